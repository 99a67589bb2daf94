import Foundation
import Histogram
import LoopbackPorts
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import LoadTestKit

/// The engine against an in-process server on 127.0.0.1. Every run is bounded by a duration and a request cap.
@Suite(.serialized)
struct EngineTests {
    @Test func closedModelStopsAtTheRequestCap() async throws {
        try await withTestServer { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "hello", path: .literal("/hello"))],
                model: .closed(connections: 4),
                duration: .seconds(20),
                maxRequests: 500,
                threads: 2
            )
            let result = try await LoadRunner.run(configuration)
            #expect(result.overall.completed == 500)
            #expect(result.overall.succeeded == 500)
            #expect(result.overall.failed == 0)
            #expect(result.overall.statusCounts[200] == 500)
            #expect(server.requestCount.load(ordering: .relaxed) == 500)
            #expect(result.elapsed < .seconds(20))
            #expect(result.overall.latencyHistogram.totalCount == 500)
            #expect(!result.isOpenModel)
        }
    }

    @Test func closedModelStopsAtTheDuration() async throws {
        try await withTestServer { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "hello", path: .literal("/hello"))],
                model: .closed(connections: 2),
                duration: .milliseconds(500),
                maxRequests: 1_000_000,
                threads: 1
            )
            let clock = ContinuousClock()
            let began = clock.now
            let result = try await LoadRunner.run(configuration)
            #expect(clock.now - began < .seconds(5))
            #expect(result.overall.completed > 10)
            #expect(result.overall.failed == 0)
        }
    }

    @Test func openModelSendsTheScheduledNumberOfRequests() async throws {
        try await withTestServer { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [
                    RequestDefinition(name: "a", path: .literal("/a"), weight: 3),
                    RequestDefinition(name: "b", path: .literal("/b"), weight: 1),
                ],
                model: .open(.constant(200)),
                duration: .seconds(1),
                threads: 2,
                recordsOutcomes: true,
                seed: 42
            )
            let result = try await LoadRunner.run(configuration)
            #expect(result.intended == 200)
            #expect(result.overall.completed == 200)
            #expect(result.intendedRate == 200)
            let a = try #require(result.request(named: "a"))
            let b = try #require(result.request(named: "b"))
            #expect(a.completed + b.completed == 200)
            #expect(a.completed > b.completed)
            let outcomes = try #require(result.outcomes)
            #expect(outcomes.count == 200)
            #expect(Set(outcomes.map(\.sequence)) == Set(0..<200))
            // Intended send times follow the schedule: request i at i / rate.
            for outcome in outcomes {
                #expect(abs(outcome.intendedOffset - Double(outcome.sequence) / 200) < 1e-6)
            }
        }
    }

    @Test func steppedRateFollowsItsStages() async throws {
        try await withTestServer { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "a", path: .literal("/a"))],
                model: .open(.stepped([.init(rate: 100, duration: .milliseconds(500)), .init(rate: 300, duration: .milliseconds(500))])),
                duration: .seconds(1),
                threads: 1
            )
            let result = try await LoadRunner.run(configuration)
            #expect(result.intended == 50 + 150)
            #expect(result.overall.completed == 200)
            let firstHalf = result.timeline.filter { $0.offset < 0.5 }.reduce(0) { $0 + $1.started }
            let secondHalf = result.timeline.filter { $0.offset >= 0.5 }.reduce(0) { $0 + $1.started }
            #expect(firstHalf == 50)
            #expect(secondHalf == 150)
        }
    }

    @Test func expectedStatusesDecideSuccess() async throws {
        let route: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { request in
            let sequence = Int(request.uri.split(separator: "/").last ?? "") ?? 0
            switch sequence % 3 {
            case 0: return .init(status: 200, body: "{}")
            case 1: return .init(status: 402, body: "{}", chunked: true)
            default: return .init(status: 500, body: "{}")
            }
        }
        try await withTestServer(route: route) { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [
                    RequestDefinition(
                        name: "pay",
                        method: "POST",
                        path: try Template("/pay/{{seq}}"),
                        expectedStatuses: ExpectedStatuses([200, 402])
                    )
                ],
                model: .closed(connections: 1),
                duration: .seconds(10),
                maxRequests: 90,
                threads: 1
            )
            let result = try await LoadRunner.run(configuration)
            #expect(result.overall.completed == 90)
            #expect(result.overall.statusCounts == [200: 30, 402: 30, 500: 30])
            #expect(result.overall.succeeded == 60)
            #expect(result.overall.errors[.unexpectedStatus] == 30)
            #expect(abs(result.overall.errorRate - 1.0 / 3) < 1e-9)
        }
    }

    @Test func connectionRefusedCountsConnectErrors() async throws {
        let configuration = LoadConfiguration(
            baseURL: try BaseURL("http://127.0.0.1:\(try refusingPort())"),
            requests: [RequestDefinition(name: "a", path: .literal("/a"))],
            model: .open(.constant(100)),
            duration: .milliseconds(300),
            threads: 1
        )
        let result = try await LoadRunner.run(configuration)
        #expect(result.overall.completed == 0)
        #expect(result.overall.errors[.connect] == 30)
        #expect(result.overall.errorRate == 1)
    }

    @Test func slowResponsesTimeOut() async throws {
        let slow: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in .init(status: 200, body: "{}", delay: .seconds(3)) }
        try await withTestServer(route: slow) { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "slow", path: .literal("/slow"))],
                model: .open(.constant(20)),
                duration: .milliseconds(250),
                requestTimeout: .milliseconds(300),
                threads: 1
            )
            let clock = ContinuousClock()
            let began = clock.now
            let result = try await LoadRunner.run(configuration)
            #expect(clock.now - began < .seconds(2))
            #expect(result.overall.errors[.timeout] == 5)
            #expect(result.overall.completed == 0)
            // A stall longer than the timeout raises the corrected percentiles: every timed-out request counts at the
            // time it waited, at least its timeout (before, failures never reached the histogram).
            #expect(result.overall.timeoutsInLatency == 5)
            #expect(result.overall.latencyHistogram.totalCount == 5)
            #expect(result.overall.latency(atPercentile: 50) >= .milliseconds(300))
            #expect(try !Threshold.parse("p99<250ms").evaluate(result).passed)
            let summary = SummaryReport.render(ScenarioReport(scenarioName: "slow", setup: [], result: result, thresholds: []))
            #expect(summary.contains("5 timed-out requests"))
        }
    }

    /// The achieved rate is measured over the send window: one request that times out after the last send must not
    /// lower it (before, it divided by the time to that timeout: ~19 responses over ~2 s for a 20 req/s run).
    @Test func aLateTimeoutDoesNotLowerTheAchievedRate() async throws {
        let count = Mutex(0)
        let oneStalls: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in
            let index = count.withLock { value in
                value += 1
                return value
            }
            return .init(status: 200, body: "{}", delay: index == 18 ? .seconds(5) : .zero)
        }
        try await withTestServer(route: oneStalls) { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "get", path: .literal("/"))],
                model: .open(.constant(20)),
                duration: .seconds(1),
                requestTimeout: .milliseconds(1500),
                threads: 1
            )
            let result = try await LoadRunner.run(configuration)
            #expect(result.overall.completed == 19)
            #expect(result.overall.errors[.timeout] == 1)
            #expect(result.elapsed > .seconds(2))
            #expect(result.sendWindow < .milliseconds(1100))
            #expect(abs(result.achievedRate - 19) < 2, "achieved \(result.achievedRate) req/s")
            #expect(try Threshold.parse("rps>17").evaluate(result).passed)
        }
    }

    @Test func cancellationStopsTheRun() async throws {
        try await withTestServer { server in
            let configuration = LoadConfiguration(
                baseURL: try BaseURL(server.baseURL),
                requests: [RequestDefinition(name: "a", path: .literal("/a"))],
                model: .open(.constant(100)),
                duration: .seconds(30),
                threads: 1
            )
            let clock = ContinuousClock()
            let began = clock.now
            let task = Task { try await LoadRunner.run(configuration) }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = try await task.value
            #expect(result.cancelled)
            #expect(clock.now - began < .seconds(5))
            #expect(result.overall.completed > 5)
            #expect(result.overall.completed < 3000)
        }
    }

    @Test func scenarioSetupCapturesTheTokenForLaterRequests() async throws {
        let route: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { request in
            switch (request.method, request.uri) {
            case ("POST", "/api/auth/register"):
                return .init(status: 201, body: "{\"success\":true}")
            case ("POST", "/api/auth/login"):
                return .init(status: 200, body: "{\"token\":\"tok-123\",\"userId\":\"user-9\",\"roles\":[\"ROLE_USER\"]}")
            case ("POST", "/api/reviews"):
                return request.header("Authorization") == "Bearer tok-123" ? .init(status: 201, body: "{}") : .init(status: 401, body: "{}")
            default:
                return .init(status: 404, body: "{}")
            }
        }
        try await withTestServer(keepsRequests: true, route: route) { server in
            let yaml = """
                name: reviews
                variables:
                  username: "lt_{{randString 8}}"
                headers:
                  Content-Type: application/json
                setup:
                  - name: register
                    method: POST
                    path: /api/auth/register
                    body: '{"username":"{{username}}","password":"secret1"}'
                    expect: [201]
                  - name: login
                    method: POST
                    path: /api/auth/login
                    body: '{"usernameOrEmail":"{{username}}","password":"secret1"}'
                    expect: 200
                    capture:
                      token: $.token
                      userId: $.userId
                load:
                  model: closed
                  connections: 2
                  duration: 10s
                  maxRequests: 40
                requests:
                  - name: create
                    method: POST
                    path: /api/reviews
                    headers:
                      Authorization: "Bearer {{token}}"
                    body: '{"book_id":"book-{{seq}}","user_id":"{{userId}}","rating":{{randInt 1 5}}}'
                    expect: [201]
                thresholds:
                  - error_rate<1%
                  - requests>=40
                """
            let scenario = try ScenarioLoader.parse(yaml)
            let report = try await ScenarioRunner.run(scenario, overrides: ScenarioOverrides(baseURL: server.baseURL, threads: 1))
            #expect(report.setup.map(\.name) == ["register", "login"])
            #expect(report.setup.last?.captured == ["token", "userId"])
            #expect(report.result.overall.succeeded == 40)
            #expect(report.passed)
            let requests = server.requests()
            let register = try #require(requests.first)
            let login = requests[1]
            let username = try #require(register.body.split(separator: "\"").dropFirst(3).first)
            #expect(username.hasPrefix("lt_") && username.count == 11)
            #expect(login.body.contains(String(username)))
            let creates = requests.filter { $0.uri == "/api/reviews" }
            #expect(creates.count == 40)
            let bookIDs = Set(creates.compactMap { $0.body.split(separator: "\"").dropFirst(3).first.map(String.init) })
            #expect(bookIDs.count == 40)
            for create in creates {
                #expect(create.body.contains("\"user_id\":\"user-9\""))
                #expect(create.header("Content-Type") == "application/json")
                let data = try #require(create.body.data(using: .utf8))
                let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                let rating = try #require(object["rating"] as? Int)
                #expect((1...5).contains(rating))
            }
        }
    }

    @Test func setupFailureStopsBeforeTheLoad() async throws {
        let unauthorized: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in
            .init(status: 401, body: "{\"message\":\"bad credentials\"}")
        }
        try await withTestServer(route: unauthorized) { server in
            let scenario = Scenario(
                name: "login",
                setup: [
                    SetupStep(
                        request: RequestDefinition(
                            name: "login",
                            method: "POST",
                            path: .literal("/login"),
                            expectedStatuses: ExpectedStatuses([200])
                        ),
                        captures: [Capture(name: "token", source: .jsonPath(try JSONPath("$.token")))]
                    )
                ],
                requests: [RequestDefinition(name: "a", path: try Template("/a?t={{token}}"))],
                load: LoadSettings(connections: 1, duration: .seconds(1), maxRequests: 10)
            )
            await #expect(throws: SetupFailure.self) {
                try await ScenarioRunner.run(scenario, overrides: ScenarioOverrides(baseURL: server.baseURL, threads: 1))
            }
            #expect(server.requestCount.load(ordering: .relaxed) == 1)
        }
    }
}

/// Runs `body` with a fresh server and always shuts the server down.
func withTestServer<T>(
    keepsRequests: Bool = false,
    stall: TestHTTPServer.Stall? = nil,
    route: @escaping @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in .init(status: 200, body: "{\"ok\":true}") },
    _ body: (TestHTTPServer) async throws -> T
) async throws -> T {
    let server = try await TestHTTPServer(keepsRequests: keepsRequests, stall: stall, route: route)
    do {
        let result = try await body(server)
        try await server.shutdown()
        return result
    } catch {
        try? await server.shutdown()
        throw error
    }
}
