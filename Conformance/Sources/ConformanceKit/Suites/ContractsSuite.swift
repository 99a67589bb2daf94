import Foundation
import JSONKit
import Synchronization

/// contracts: every operation of SPEC §4–§5 through the gateway, positive and negative, each response validated
/// against the committed OpenAPI documents (status, content type, envelope, types, formats, required fields) and
/// carrying the gateway's headers.
public enum ContractsSuite {
    public static var checks: [Check] {
        self.gatewayChecks + self.userChecks + self.paymentChecks(.python) + self.paymentChecks(.java) + self.reviewChecks
            + self.metricsChecks
    }

    /// Checks that must run after everything else (they exhaust the login rate limit).
    public static var lastChecks: [Check] { [self.loginRateLimit] }

    static func check(
        _ id: String,
        _ summary: String,
        timeLimit: Duration = .seconds(60),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .contracts, summary, requires: [.http, .contracts], timeLimit: timeLimit, body: body)
    }

    /// A UUID nobody has.
    static var unknownID: String { UUID().uuidString.lowercased() }

    // MARK: Gateway, smoke calls and headers

    static var gatewayChecks: [Check] {
        [
            self.check("API-SMOKE-USERS-HEALTH", "The seed README's smoke call GET /api/users/health answers 200 through the gateway") { context in
                try context.expectContract(try await context.http.get("/api/users/health"), status: 200)
            },
            self.check("API-SMOKE-PAYMENTS-PYTHON-HEALTH", "The seed README's smoke call GET /api/payments-python/health answers 200") { context in
                try context.expectContract(try await context.http.get("/api/payments-python/health"), status: 200)
            },
            self.check("API-SMOKE-PAYMENTS-JAVA-HEALTH", "The seed README's smoke call GET /api/payments-java/actuator/health answers 200") {
                context in
                try context.expectContract(try await context.http.get("/api/payments-java/actuator/health"), status: 200)
            },
            self.check("API-GATEWAY-REQUEST-ID-ECHO", "The gateway echoes an incoming X-Request-ID (routed and own endpoints)") { context in
                for path in ["/api/users/health", "/api/reviews/book/none", "/actuator/health/liveness"] {
                    let id = "conformance-\(UUID().uuidString.lowercased())"
                    let response = try await context.http.get(path, headers: [("X-Request-ID", id)])
                    try context.require(
                        response.header("X-Request-ID") == id,
                        expected: "X-Request-ID: \(id) echoed by GET \(path)",
                        seen: response.header("X-Request-ID").map { "X-Request-ID: \($0)" } ?? "no X-Request-ID"
                    )
                }
            },
            self.check("API-GATEWAY-REQUEST-ID-CREATED", "Without an X-Request-ID the gateway creates a different one for each request") { context in
                let first = try await context.http.get("/api/users/health")
                let second = try await context.http.get("/api/users/health")
                let ids = [first.header("X-Request-ID"), second.header("X-Request-ID")]
                try context.require(
                    ids.allSatisfy { !($0 ?? "").isEmpty } && ids[0] != ids[1],
                    expected: "two different non-empty X-Request-ID values",
                    seen: ids.map { $0 ?? "none" }.joined(separator: " and ")
                )
            },
            self.check("API-GATEWAY-SERVICE-HEADER", "Every gateway response carries X-Gateway-Service: bookstore-gateway (2xx, 4xx, own endpoints)")
            { context in
                for path in ["/api/users/health", "/api/users/me", "/api/does-not-exist", "/actuator/health"] {
                    let response = try await context.http.get(path)
                    try context.require(
                        response.header("X-Gateway-Service") == "bookstore-gateway",
                        expected: "X-Gateway-Service: bookstore-gateway on \(response.label)",
                        seen: response.header("X-Gateway-Service") ?? "no such header"
                    )
                }
            },
            self.check("API-GATEWAY-ACTUATOR", "The gateway's own health, liveness, readiness and metrics endpoints match its contract") { context in
                try context.expectContract(try await context.http.get("/actuator/health"), status: 200)
                try context.expectContract(try await context.http.get("/actuator/health/liveness"), status: 200)
                try context.expectContract(try await context.http.get("/actuator/health/readiness"), status: 200)
                let segment = "metrics-\(context.options.runID)-\(UUID().uuidString.prefix(8).lowercased())"
                _ = try await context.http.get("/api/reviews/book/\(segment)", record: false)
                for path in ["/actuator/prometheus", "/metrics"] {
                    let metrics = try await context.http.get(path, record: false)
                    try context.expectContract(metrics, status: 200)
                    let problems = PrometheusText.specProblems(in: String(decoding: metrics.body, as: UTF8.self), rawSegment: segment)
                    try context.require(
                        problems.isEmpty,
                        expected: "the series of SPEC §8 in the gateway's \(path)",
                        seen: problems.joined(separator: "; ")
                    )
                }
            },
            self.check("API-GATEWAY-UNKNOWN-ROUTE-404", "An unknown route answers 404 JSON with the gateway's error envelope") { context in
                let response = try await context.http.get("/api/no-such-route-\(context.options.runID)")
                try context.expectStatus(response, 404)
                try context.expectConforms(response)
            },
            self.check("API-GATEWAY-EDGE-401", "A protected route without a token is refused with 401 JSON before reaching the service") { context in
                for path in ["/api/users/me", "/api/payments-python/user/someone", "/api/payments-java/user/someone"] {
                    let response = try await context.http.get(path)
                    try context.expectContract(response, status: 401)
                }
            },
            self.check("API-GATEWAY-AUTH-FORWARDED", "The gateway forwards Authorization to the services (a valid token reaches /api/users/me)") {
                context in
                let alice = try await context.user("alice")
                let response = try await context.http.get("/api/users/me", token: alice.token)
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["id"]?.stringValue == alice.id,
                    expected: "the caller's own user \(alice.id)",
                    seen: response.json?["id"]?.stringValue ?? "no id"
                )
            },
            self.check("API-GATEWAY-CORS-PREFLIGHT", "A CORS preflight is answered by the gateway without a token") { context in
                let response = try await context.http.send(
                    "OPTIONS",
                    "/api/users/me",
                    headers: [("Origin", "http://example.com"), ("Access-Control-Request-Method", "GET")]
                )
                try context.expectStatus(response, in: Array(200..<300))
                try context.require(
                    response.header("Access-Control-Allow-Origin") != nil,
                    expected: "Access-Control-Allow-Origin on the preflight answer",
                    seen: "no such header"
                )
            },
        ]
    }

    // MARK: Last: rate limiting

    static var loginRateLimit: Check {
        self.check(
            "API-USERS-LOGIN-429",
            "Repeated failed logins from one client are rate-limited with 429 and Retry-After",
            timeLimit: .seconds(150)
        ) {
            context in
            let body = (["usernameOrEmail": .string("cf_\(context.options.runID)_nobody"), "password": "wrong-password"] as JSON).bytes
            let http = context.http
            let attempts = SharedCounter()
            let limit = context.options.loginAttempts
            let started = ContinuousClock.now
            // Eight clients at once from this address: a limit enforced per replica must still be exceeded.
            let outcome = try await withThrowingTaskGroup(of: (HTTPResponse?, [Int: Int]).self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var statuses: [Int: Int] = [:]
                        while attempts.value.add(1, ordering: .relaxed).newValue <= limit {
                            try Task.checkCancellation()
                            let response = try await http.send(
                                "POST",
                                "/api/auth/login",
                                headers: [("Content-Type", "application/json")],
                                body: body,
                                record: false
                            )
                            statuses[response.status, default: 0] += 1
                            if response.status == 429 { return (response, statuses) }
                            if response.status != 401 { return (response, statuses) }
                        }
                        return (nil, statuses)
                    }
                }
                var statuses: [Int: Int] = [:]
                var found: HTTPResponse?
                while let (response, counts) = try await group.next() {
                    statuses.merge(counts, uniquingKeysWith: +)
                    if let response, found == nil {
                        found = response
                        attempts.value.store(limit + 1, ordering: .relaxed)
                    }
                }
                return (found, statuses)
            }
            let (response, statuses) = outcome
            let elapsed = ContinuousClock.now - started
            let sent = statuses.values.reduce(0, +)
            let seen =
                statuses.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", ")
                + " in \(Evidence.milliseconds(elapsed)) ms (\(Int(Double(sent) / max(elapsed.asSeconds, 0.001))) per second)"
            context.measure("failed logins sent", seen)
            guard let response, response.status == 429 else {
                if let response { try context.expectStatus(response, 401, because: "bad credentials") }
                throw CheckFailure(expected: "429 within \(limit) failed logins (--login-attempts)", seen: seen)
            }
            context.evidence.add(.exchange(HTTPExchange(response)))
            try context.expectConforms(response)
            try context.require(
                Int(response.header("Retry-After") ?? "") != nil,
                expected: "a Retry-After header in seconds on the 429",
                seen: response.header("Retry-After") ?? "none"
            )
        }
    }
}

/// A counter shared by concurrent tasks.
final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}

extension HTTPExchange {
    /// The exchange of a response already received.
    init(_ response: HTTPResponse) {
        self.init(
            method: response.method,
            url: response.url,
            requestHeaders: [],
            requestBody: [],
            status: response.status,
            responseHeaders: response.headers,
            responseBody: response.body,
            error: nil,
            startedAt: Date(),
            duration: response.duration
        )
    }
}
