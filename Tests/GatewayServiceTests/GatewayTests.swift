import AsyncHTTPClient
import BookstoreCore
import Foundation
import GatewayService
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import LoopbackPorts
import NIOCore
import NIOHTTP1
import Testing

/// The gateway as an in-process router (`application.test(.router)`): the router fallback of the proxy.
@Suite struct GatewayRouterModeTests {
    @Test(arguments: [
        ("/api/auth/login", "/api/auth/login"), ("/api/users/health", "/api/health"), ("/api/users/health/ready", "/api/health/ready"),
        ("/api/users/me", "/api/users/me"), ("/api/users", "/api/users"), ("/api/payments-python/health", "/api/health"),
        ("/api/payments-python", "/api/payments"), ("/api/payments-python/user/u-1", "/api/payments/user/u-1"),
        ("/api/payments-java/actuator/health", "/actuator/health"), ("/api/payments-java/abc/refund", "/api/payments/abc/refund"),
        ("/api/reviews/health", "/api/health"), ("/api/reviews/book/b-1/stats", "/api/reviews/book/b-1/stats"),
    ])
    func rewritesPrefixesAndForwardsHeaders(_ path: String, _ upstreamPath: String) async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let upstream = upstreams[0]
            let built = try await gateway(upstreams: allUpstreams(upstream.url))
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
                    #expect(response.headers[HTTPField.Name("X-Upstream-Secret")!] == nil, "headers named in Connection are hop-by-hop")
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
        try await withUpstreams(["u0"]) { upstreams in
            let upstream = upstreams[0]
            let built = try await gateway(upstreams: allUpstreams(upstream.url))
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
                            #expect(response.headers[.gatewayService] == "bookstore-gateway")
                            let body = try JSON.parse(Array(buffer: response.body))
                            #expect(body["status"] == "error")
                            #expect(body["requestId"]?.stringValue == response.headers[.requestID])
                            #expect(body["timestamp"]?.stringValue.flatMap(Timestamp.parse) != nil)
                        }
                    }
                }
                #expect(upstream.behaviour.hitCount == 0, "rejected requests never reach the upstream")
                for path in ["/api/auth/login", "/api/reviews/book/b-1", "/api/users/health", "/api/payments-java/actuator/health"] {
                    try await client.execute(uri: path, method: path.hasSuffix("login") ? .post : .get) { response in
                        #expect(response.status == .ok, "\(path) is public")
                    }
                }
            }
        }
    }

    @Test func streamsLargeBodiesBothWays() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let upstream = upstreams[0]
            let built = try await gateway(upstreams: allUpstreams(upstream.url), extra: ["MAX_BODY_BYTES": "\(2 << 20)"])
            try await built.application.test(.router) { client in
                let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: 700_000)
                try await client.execute(uri: "/api/auth/register", method: .post, headers: [.contentType: "application/json"], body: payload) {
                    response in
                    #expect(response.status == .ok)
                    let echo = try JSON.parse(Array(buffer: response.body))
                    #expect(echo["bodyLength"]?.intValue == 700_000)
                    #expect(echo["method"] == "POST")
                }
                try await client.execute(uri: "/api/auth/download/3000000", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.readableBytes == 3_000_000)
                }
                try await client.execute(uri: "/api/auth/register", method: .post, body: ByteBuffer(repeating: 1, count: 3 << 20)) { response in
                    #expect(response.status == .contentTooLarge)
                }
            }
        }
    }

    @Test func failuresUseTheEnvelope() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let upstream = upstreams[0]
            var upstreams = allUpstreams(upstream.url)
            upstreams["USER_SERVICE_URL"] = "http://127.0.0.1:\(try refusingPort())"
            let built = try await gateway(upstreams: upstreams, extra: ["GATEWAY_RETRY_BASE_DELAY_MS": "1"])
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
                try await client.execute(uri: "/api/reviews/status/500", method: .get) { response in
                    #expect(response.status == .internalServerError, "an upstream's own answer is passed through")
                }
            }
        }
    }

    @Test func gatewayOwnEndpointsAndUnknownRoutes() async throws {
        let built = try await gateway(upstreams: allUpstreams("http://127.0.0.1:\(try refusingPort())"))
        try await built.application.test(.router) { client in
            for path in ["/actuator/health/liveness", "/actuator/health/readiness", "/actuator/info", "/actuator/upstreams"] {
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

    @Test func invalidSettingsFailStartup() async throws {
        for (key, value) in [
            ("USER_SERVICE_URL", "ftp://x"), ("USER_SERVICE_URL", "https://secure:443"), ("USER_SERVICE_URL", "http://:80"),
            ("GATEWAY_ROUTE_TIMEOUTS_MS", "api=5"), ("GATEWAY_RETRY_ATTEMPTS", "0"), ("GATEWAY_EJECT_FAILURES", "x"),
            ("GATEWAY_EJECT_MAX_PERCENT", "101"), ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/33"), ("GATEWAY_TRUSTED_PROXIES", "ingress"),
            ("TRUSTED_PROXIES", "::1/129"), ("GATEWAY_RATE_LIMIT_MAX_CLIENTS", "0"),
        ] {
            await #expect(throws: ConfigurationError.self, "\(key)=\(value)") { _ = try await gateway(upstreams: [key: value]) }
        }
    }
}
