import BookstoreCore
import Foundation
import GatewayService
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import NIOCore
import Synchronization
import Testing

let gatewaySecret = "gateway-test-secret-that-is-long-enough-01"

/// The paths one upstream received.
final class HitLog: Sendable {
    private let paths = Mutex<[String]>([])
    func append(_ path: String) { self.paths.withLock { $0.append(path) } }
    var all: [String] { self.paths.withLock { $0 } }
}

/// A loopback upstream that echoes what it received, counts requests, and can be told to fail or stall.
struct EchoUpstream {
    static func router(name: String, hits: HitLog) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch, .head, .options] {
            router.on("**", method: method) { request, context -> Response in
                let path = request.uri.path
                hits.append(path)
                if path.hasSuffix("/fail") { return Response(status: .internalServerError) }
                if path.hasSuffix("/slow") { try await Task.sleep(for: .seconds(3)) }
                let body = try await request.body.collect(upTo: 8 << 20)
                var headers = JSONObject()
                for field in request.headers { headers[field.name.canonicalName] = .string(field.value) }
                let echo: JSON = [
                    "upstream": .string(name), "method": .string(request.method.rawValue), "path": .string(path),
                    "query": .optional(request.uri.query), "headers": .object(headers), "bodyLength": .int(body.readableBytes),
                ]
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json", .connection: "keep-alive", HTTPField.Name("X-Upstream")!: name],
                    body: .init(byteBuffer: ByteBuffer(bytes: echo.bytes))
                )
            }
        }
        return router
    }

    /// Runs `count` echo upstreams on loopback for the duration of `body`, which receives their ports and hit logs.
    static func run(count: Int, _ body: @escaping @Sendable ([Int], [HitLog]) async throws -> Void) async throws {
        let logs = (0..<count).map { _ in HitLog() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var ports: [Int] = []
            for index in 0..<count {
                let (stream, continuation) = AsyncStream<Int>.makeStream()
                let app = Application(
                    router: Self.router(name: "u\(index)", hits: logs[index]),
                    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                    onServerRunning: { channel in
                        continuation.yield(channel.localAddress?.port ?? 0)
                        continuation.finish()
                    }
                )
                group.addTask { try await app.run() }
                for await port in stream { ports.append(port) }
            }
            try await body(ports, logs)
            group.cancelAll()
        }
    }
}

/// A port nothing listens on.
func closedPort() throws -> Int {
    let channel = try ServerBootstrapPort.bindAndClose()
    return channel
}

enum ServerBootstrapPort {
    static func bindAndClose() throws -> Int {
        // Ports below 1024 are never bound by tests here; 9 (discard) is not served on these machines.
        9
    }
}

func gateway(upstreams: [String: String], extra: [String: String] = [:]) async throws -> BuiltService {
    var environment = ["JWT_SECRET": gatewaySecret, "PORT": "0", "LOG_LEVEL": "critical", "ACCESS_LOG": "false", "GATEWAY_READ_TIMEOUT_MS": "1000"]
    environment.merge(upstreams) { $1 }
    environment.merge(extra) { $1 }
    return try await GatewayApp.build(settings: Settings(environment: environment), bus: InProcessEventBus())
}

func allUpstreams(_ url: String) -> [String: String] {
    ["USER_SERVICE_URL": url, "PAYMENT_PYTHON_SERVICE_URL": url, "PAYMENT_JAVA_SERVICE_URL": url, "REVIEW_SERVICE_URL": url]
}

let userToken = TokenService(settings: TokenSettings(secret: gatewaySecret)).issue(
    for: Identity(userID: "u-1", username: "alice", email: "a@example.com", roles: ["ROLE_USER"])
)

@Suite struct GatewayRoutingTests {
    @Test(arguments: [
        ("/api/auth/login", "/api/auth/login"), ("/api/users/health", "/api/health"), ("/api/users/health/ready", "/api/health/ready"),
        ("/api/users/me", "/api/users/me"), ("/api/users", "/api/users"), ("/api/payments-python/health", "/api/health"),
        ("/api/payments-python", "/api/payments"), ("/api/payments-python/user/u-1", "/api/payments/user/u-1"),
        ("/api/payments-java/actuator/health", "/actuator/health"), ("/api/payments-java/abc/refund", "/api/payments/abc/refund"),
        ("/api/reviews/health", "/api/health"), ("/api/reviews/book/b-1/stats", "/api/reviews/book/b-1/stats"),
    ])
    func rewritesPrefixesAndForwardsHeaders(_ path: String, _ upstreamPath: String) async throws {
        try await EchoUpstream.run(count: 1) { ports, _ in
            let built = try await gateway(upstreams: allUpstreams("http://127.0.0.1:\(ports[0])"))
            try await built.application.test(.router) { client in
                try await client.execute(
                    uri: path + "?page=2&limit=5",
                    method: .get,
                    headers: [.authorization: "Bearer \(userToken)", .requestID: "req-77", .connection: "close", HTTPField.Name("Keep-Alive")!: "x"]
                ) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.gatewayService] == "bookstore-gateway")
                    #expect(response.headers[.requestID] == "req-77")
                    #expect(response.headers[HTTPField.Name("X-Upstream")!] == "u0")
                    let echo = try JSON.parse(Array(buffer: response.body))
                    #expect(echo["path"]?.stringValue == upstreamPath)
                    #expect(echo["query"] == "page=2&limit=5")
                    let headers = try #require(echo["headers"])
                    #expect(headers["authorization"]?.stringValue == "Bearer \(userToken)", "the gateway passes Authorization on")
                    #expect(headers["x-request-id"] == "req-77")
                    #expect(headers["x-forwarded-for"] != nil)
                    #expect(headers["x-forwarded-proto"] == "http")
                    #expect(headers["keep-alive"] == nil, "hop-by-hop headers are stripped")
                }
            }
        }
    }

    @Test func tokensAreCheckedAtTheEdgeExceptOnPublicRoutes() async throws {
        try await EchoUpstream.run(count: 1) { ports, logs in
            let built = try await gateway(upstreams: allUpstreams("http://127.0.0.1:\(ports[0])"))
            let forged = TokenService(settings: TokenSettings(secret: "another-secret-that-is-long-enough-zzzzzz")).issue(
                for: Identity(userID: "u-1", username: "a", email: "e", roles: ["ROLE_ADMIN"])
            )
            try await built.application.test(.router) { client in
                let protected: [(HTTPRequest.Method, String)] = [
                    (.get, "/api/users/me"), (.post, "/api/payments-python"), (.get, "/api/payments-java/x"), (.post, "/api/reviews"),
                    (.delete, "/api/reviews/r-1"), (.put, "/api/users/u-1"),
                ]
                for (method, path) in protected {
                    for header in [nil, "Bearer \(forged)", "Bearer not.a.token", "Basic abc"] as [String?] {
                        var headers = HTTPFields()
                        if let header { headers[.authorization] = header }
                        try await client.execute(uri: path, method: method, headers: headers) { response in
                            #expect(response.status == .unauthorized, "\(method) \(path)")
                            let body = try JSON.parse(Array(buffer: response.body))
                            #expect(body["status"] == "error")
                            #expect(body["requestId"]?.stringValue == response.headers[.requestID])
                            #expect(body["timestamp"]?.stringValue.flatMap(Timestamp.parse) != nil)
                        }
                    }
                }
                #expect(logs[0].all.isEmpty, "rejected requests never reach the upstream")
                for path in ["/api/auth/login", "/api/reviews/book/b-1", "/api/users/health", "/api/payments-java/actuator/health"] {
                    try await client.execute(uri: path, method: path.hasSuffix("login") ? .post : .get) { response in
                        #expect(response.status == .ok, "\(path) is public")
                    }
                }
            }
        }
    }

    @Test func streamsLargeBodiesBothWays() async throws {
        try await EchoUpstream.run(count: 1) { ports, _ in
            let built = try await gateway(upstreams: allUpstreams("http://127.0.0.1:\(ports[0])"))
            try await built.application.test(.router) { client in
                let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: 700_000)
                try await client.execute(uri: "/api/auth/register", method: .post, headers: [.contentType: "application/json"], body: payload) {
                    response in
                    #expect(response.status == .ok)
                    let echo = try JSON.parse(Array(buffer: response.body))
                    #expect(echo["bodyLength"]?.intValue == 700_000)
                    #expect(echo["method"] == "POST")
                }
            }
        }
    }
}

@Suite struct GatewayFailureTests {
    @Test func unreachableUpstreamIs503AndSlowUpstreamIs504() async throws {
        try await EchoUpstream.run(count: 1) { ports, _ in
            var upstreams = allUpstreams("http://127.0.0.1:\(ports[0])")
            upstreams["USER_SERVICE_URL"] = "http://127.0.0.1:\(try closedPort())"
            let built = try await gateway(upstreams: upstreams)
            try await built.application.test(.router) { client in
                try await client.execute(uri: "/api/users/health", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let body = try JSON.parse(Array(buffer: response.body))
                    #expect(body["status"] == "error")
                    #expect(body["message"]?.stringValue?.contains("users") == true)
                }
                try await client.execute(uri: "/api/reviews/slow", method: .get) { response in
                    #expect(response.status == .gatewayTimeout)
                    let body = try JSON.parse(Array(buffer: response.body))
                    #expect(body["status"] == "error")
                }
                try await client.execute(uri: "/api/reviews/fail", method: .get) { response in
                    #expect(response.status == .internalServerError, "an upstream's own answer is passed through")
                }
            }
        }
    }

    @Test func idempotentRequestsMoveToAnotherReplicaWhenOneIsDown() async throws {
        try await EchoUpstream.run(count: 2) { ports, logs in
            let replicas = "http://127.0.0.1:\(try closedPort()),http://127.0.0.1:\(ports[0]),http://127.0.0.1:\(ports[1])"
            let built = try await gateway(upstreams: allUpstreams(replicas))
            try await built.application.test(.router) { client in
                for _ in 0..<30 {
                    try await client.execute(uri: "/api/reviews/book/b-1", method: .get) { response in
                        #expect(response.status == .ok)
                    }
                }
            }
            let first = logs[0].all.count
            let second = logs[1].all.count
            #expect(first + second == 30)
            #expect(first >= 5 && second >= 5, "round-robin spreads the load: \(first)/\(second)")
        }
    }

    @Test func gatewayOwnEndpointsAndUnknownRoutes() async throws {
        let built = try await gateway(upstreams: allUpstreams("http://127.0.0.1:\(try closedPort())"))
        try await built.application.test(.router) { client in
            for path in ["/actuator/health/liveness", "/actuator/health/readiness", "/actuator/info"] {
                try await client.execute(uri: path, method: .get) { response in #expect(response.status == .ok, "\(path)") }
            }
            try await client.execute(uri: "/nothing/here", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try JSON.parse(Array(buffer: response.body))
                #expect(body["status"] == "error")
            }
            try await client.execute(
                uri: "/api/reviews",
                method: .options,
                headers: [.origin: "http://shop.example", .accessControlRequestMethod: "POST"]
            ) { response in
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                #expect(response.status.code < 300)
            }
            try await client.execute(uri: "/api/users/health", method: .get) { _ in }
            try await client.execute(uri: "/actuator/prometheus", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"http_requests_total{service="gateway-service",method="GET",route="/api/users/health","#))
            }
        }
    }

    @Test func invalidUpstreamSettingsFailStartup() async throws {
        await #expect(throws: ConfigurationError.self) { _ = try await gateway(upstreams: ["USER_SERVICE_URL": "ftp://x"]) }
    }
}
