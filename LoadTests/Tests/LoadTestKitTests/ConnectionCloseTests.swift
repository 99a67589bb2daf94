import Foundation
import NIOCore
import Synchronization
import Testing

@testable import LoadTestKit

extension EngineTests {
    /// The engine, on both transports (its own sockets and SwiftNIO channels), against servers that close connections:
    /// every response with `Connection: close` (as HTTP/1.0 servers and `keepalive_timeout 0` do), or a keep-alive
    /// response followed by a close (an idle timeout racing the next request).
    ///
    /// Before the fix, a request due while no connection was idle waited in the queue until the next timeout sweep
    /// (100 ms with the default 10 s timeout): at 50 req/s against a closing server nearly every request was a late send
    /// and the corrected p50 was ~50 ms for a sub-millisecond service time. Bounds here leave a wide margin for a loaded
    /// machine: a connect on loopback takes well under a millisecond.
    ///
    /// Nested in ``EngineTests`` (serialized, recursively) so that the 1 000 req/s run never overlaps another engine test's
    /// timing.
    @Suite struct ConnectionCloseTests {
        static let closing: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in
            .init(status: 200, body: "{\"ok\":true}", closeConnection: true)
        }
        static let closingWithoutNotice: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in
            .init(status: 200, body: "{\"ok\":true}", closesWithoutNotice: true)
        }

        /// 50 req/s for 2 s: each request opens its connection when it is due, so nothing is late and the corrected
        /// latency is the service time plus a connect.
        @Test(arguments: LoadTransport.allCases) func connectionCloseAtAModestRateSendsOnTime(transport: LoadTransport) async throws {
            try await withTestServer(route: Self.closing) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .open(.constant(50)),
                    duration: .seconds(2),
                    threads: 1,
                    lateSendThreshold: .milliseconds(20),
                    transport: transport
                )
                let result = try await LoadRunner.run(configuration)
                #expect(result.intended == 100)
                #expect(result.overall.completed == 100)
                #expect(result.overall.failed == 0)
                #expect(result.connectionsOpened >= 100)
                #expect(result.lateSends <= 30, "\(result.lateSends) requests sent more than 20 ms late")
                let corrected = result.overall.latency(atPercentile: 50, corrected: true).seconds
                let service = result.overall.latency(atPercentile: 50, corrected: false).seconds
                #expect(corrected < 0.015, "corrected p50 \(corrected * 1000) ms")
                #expect(corrected - service < 0.010, "corrected p50 \(corrected * 1000) ms, service p50 \(service * 1000) ms")
            }
        }

        /// 200 req/s for 1 s: the corrected p50 stays far below the old wait for the sweep (before the fix: ~50 ms at any
        /// rate, since requests waited for a tick every 100 ms; 52 ms at 400 req/s).
        @Test(arguments: LoadTransport.allCases) func connectionCloseAtAHigherRateKeepsLatencyNearTheServiceTime(
            transport: LoadTransport
        ) async throws {
            try await withTestServer(route: Self.closing) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .open(.constant(200)),
                    duration: .seconds(1),
                    threads: 1,
                    transport: transport
                )
                let result = try await LoadRunner.run(configuration)
                #expect(result.overall.completed == 200)
                #expect(result.overall.failed == 0)
                let corrected = result.overall.latency(atPercentile: 50, corrected: true).seconds
                let service = result.overall.latency(atPercentile: 50, corrected: false).seconds
                #expect(
                    corrected < 0.025,
                    "corrected p50 \(corrected * 1000) ms, service p50 \(service * 1000) ms, \(result.lateSends) late, max in flight \(result.maxInFlight)"
                )
            }
        }

        /// 1 000 req/s for 0.5 s, a new connection every millisecond: connections open concurrently and every request
        /// completes without an error. (No latency bound: a debug build on a busy 2-core machine may fall behind here.)
        @Test(arguments: LoadTransport.allCases) func connectionCloseAtAHighRateCompletesEveryRequest(transport: LoadTransport) async throws {
            try await withTestServer(route: Self.closing) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .open(.constant(1000)),
                    duration: .milliseconds(500),
                    threads: 2,
                    transport: transport
                )
                let result = try await LoadRunner.run(configuration)
                #expect(result.intended == 500)
                #expect(result.overall.completed == 500)
                #expect(result.overall.failed == 0)
                #expect(result.connectionsOpened >= 500)
                #expect(server.requestCount.load(ordering: .relaxed) == 500)
            }
        }

        /// The closed model replaces each closed connection at once and keeps going.
        @Test(arguments: LoadTransport.allCases) func closedModelReconnectsAfterEachConnectionClose(transport: LoadTransport) async throws {
            try await withTestServer(route: Self.closing) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .closed(connections: 4),
                    duration: .seconds(20),
                    maxRequests: 400,
                    threads: 1,
                    transport: transport
                )
                let clock = ContinuousClock()
                let began = clock.now
                let result = try await LoadRunner.run(configuration)
                #expect(result.overall.completed == 400)
                #expect(result.overall.failed == 0)
                #expect(result.connectionsOpened >= 400)
                #expect(server.requestCount.load(ordering: .relaxed) == 400)
                #expect(clock.now - began < .seconds(10))
            }
        }

        /// A keep-alive response followed by a close: the next GET, already on its way on that connection, got nothing
        /// back, so it is sent again on a new connection instead of counting as a reset.
        @Test(arguments: LoadTransport.allCases) func getOnAConnectionTheServerClosedIsRetriedOnAFreshOne(transport: LoadTransport) async throws {
            try await withTestServer(route: Self.closingWithoutNotice) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .closed(connections: 2),
                    duration: .seconds(20),
                    maxRequests: 200,
                    threads: 1,
                    transport: transport
                )
                let result = try await LoadRunner.run(configuration)
                #expect(result.overall.completed == 200)
                #expect(result.overall.failed == 0)
                #expect(result.overall.errors[.reset] == nil)
                #expect(result.overall.sent == 200)
                #expect(result.retried > 0)
                #expect(server.requestCount.load(ordering: .relaxed) == 200)
                let summary = SummaryReport.render(ScenarioReport(scenarioName: "close", setup: [], result: result, thresholds: []))
                #expect(summary.contains("\(result.retried) sent again on a new connection"))
            }
        }

        /// The same race with POSTs: a request that may have reached the server is not sent again (a reset error instead);
        /// only one never written is. The server never sees a request twice.
        @Test(arguments: LoadTransport.allCases) func postIsNeverSentTwice(transport: LoadTransport) async throws {
            try await withTestServer(keepsRequests: true, route: Self.closingWithoutNotice) { server in
                let configuration = LoadConfiguration(
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "pay", method: "POST", path: try Template("/pay/{{seq}}"))],
                    model: .closed(connections: 2),
                    duration: .seconds(20),
                    maxRequests: 200,
                    threads: 1,
                    transport: transport
                )
                let result = try await LoadRunner.run(configuration)
                let uris = server.requests().map(\.uri)
                #expect(Set(uris).count == uris.count, "a POST reached the server twice")
                #expect(result.overall.completed + result.overall.failed == 200)
                #expect(result.overall.completed == UInt64(uris.count))
                #expect(result.overall.failed == (result.overall.errors[.reset] ?? 0))
                // Only requests never written are sent again; one that was flushed counts as a reset.
                #expect(result.retried + result.overall.failed > 0)
            }
        }
    }
}
