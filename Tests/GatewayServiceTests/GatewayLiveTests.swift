import AsyncHTTPClient
import BookstoreCore
import Foundation
import GatewayService
import JSONKit
import NIOCore
import NIOHTTP1
import Testing

/// The gateway on a real socket: the event-loop fast path for proxied routes.
@Suite struct GatewayLiveTests {
    @Test func forwardsWithRewrittenPathsAndHeaders() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let response = try await send(
                    gateway.url("/api/payments-python/user/u-1?page=2"),
                    headers: [
                        ("Authorization", "Bearer \(userToken)"), ("X-Request-ID", "req-live-1"), ("Connection", "keep-alive, X-Client-Hop"),
                        ("X-Client-Hop", "secret"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("X-Forwarded-For", "203.0.113.9"),
                        ("X-Custom", "kept"),
                    ]
                )
                #expect(response.status == 200)
                #expect(response.headers.first(name: "X-Gateway-Service") == "bookstore-gateway")
                #expect(response.headers["X-Request-ID"] == ["req-live-1"], "the gateway's id replaces the upstream's")
                #expect(response.headers.first(name: "X-Upstream-Secret") == nil, "headers named in Connection are hop-by-hop")
                let echo = try #require(response.json)
                #expect(echo["path"] == "/api/payments/user/u-1")
                #expect(echo["query"] == "page=2")
                let headers = try #require(echo["headers"])
                #expect(headers["x-request-id"] == "req-live-1")
                #expect(headers["x-forwarded-for"] == "127.0.0.1", "an untrusted peer's X-Forwarded-For is replaced by the peer")
                #expect(headers["x-forwarded-proto"] == "http")
                #expect(headers["x-forwarded-host"] == .string("127.0.0.1:\(gateway.port)"))
                #expect(headers["host"] == .string("127.0.0.1:\(upstreams[0].port)"))
                #expect(headers["x-custom"] == "kept")
                for hop in ["keep-alive", "te", "x-client-hop"] { #expect(headers[hop] == nil, "\(hop) is stripped") }
            }
        }
    }

    @Test func edgeChecksAnswerInTheEnvelope() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let unauthorized = try await send(gateway.url("/api/users/me"))
                #expect(unauthorized.status == 401)
                #expect(unauthorized.headers.first(name: "WWW-Authenticate") == "Bearer")
                #expect(unauthorized.json?["status"] == "error")
                #expect(unauthorized.json?["requestId"]?.stringValue == unauthorized.headers.first(name: "X-Request-ID"))
                for path in ["/api/reviews/../users/me", "/api/reviews/%2e%2e/users/me", "/api/reviews/./x"] {
                    let raw = try await rawExchange(port: gateway.port, "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    #expect(raw.hasPrefix("HTTP/1.1 400"), "\(path): \(raw.prefix(40))")
                }
                #expect(try await send(gateway.url("/api/reviews/book/b-1")).status == 200)
                #expect(try await send(gateway.url("/actuator/health/readiness")).status == 200, "the gateway's own routes")
                let unknown = try await send(gateway.url("/nope"))
                #expect(unknown.status == 404)
                #expect(unknown.json?["status"] == "error")
                #expect(upstreams[0].behaviour.hitCount == 1)
            }
        }
    }

    @Test func corsOnProxiedResponsesAndPreflights() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: ["CORS_ALLOWED_ORIGIN": "https://shop.example"]) {
                gateway in
                let response = try await send(gateway.url("/api/reviews/book/b-1"), headers: [("Origin", "https://shop.example")])
                #expect(response.headers.first(name: "Access-Control-Allow-Origin") == "https://shop.example")
                let preflight = try await send(
                    gateway.url("/api/reviews"),
                    method: .OPTIONS,
                    headers: [("Origin", "https://shop.example"), ("Access-Control-Request-Method", "POST")]
                )
                #expect(preflight.status < 300)
                #expect(preflight.headers.first(name: "Access-Control-Allow-Origin") == "https://shop.example")
                #expect(upstreams[0].behaviour.hitCount == 1, "preflights are answered by the gateway")
            }
        }
    }

    @Test func streamsLargeBodiesBothWays() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: ["MAX_BODY_BYTES": "\(8 << 20)"]) { gateway in
                let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: 5_000_000)
                let upload = try await send(gateway.url("/api/auth/register"), method: .POST, body: payload)
                #expect(upload.status == 200)
                #expect(upload.json?["bodyLength"]?.intValue == 5_000_000)
                let chunked = try await send(gateway.url("/api/auth/register"), method: .POST, body: payload, streamedBody: true)
                #expect(chunked.status == 200)
                #expect(chunked.json?["bodyLength"]?.intValue == 5_000_000)
                #expect(chunked.json?["headers"]?["transfer-encoding"] == "chunked")
                let download = try await send(gateway.url("/api/auth/download/20000000"))
                #expect(download.status == 200)
                #expect(download.body.readableBytes == 20_000_000)
            }
        }
    }

    @Test func bodyLimitIs413ForContentLengthAndChunked() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: ["MAX_BODY_BYTES": "4096"]) { gateway in
                let tooLarge = try await send(gateway.url("/api/auth/register"), method: .POST, body: ByteBuffer(repeating: 1, count: 5000))
                #expect(tooLarge.status == 413)
                #expect(tooLarge.json?["status"] == "error")
                let fits = try await send(gateway.url("/api/auth/register"), method: .POST, body: ByteBuffer(repeating: 1, count: 4096))
                #expect(fits.status == 200)
                let chunk = String(repeating: "a", count: 3000)
                let raw = try await rawExchange(
                    port: gateway.port,
                    "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "bb8\r\n\(chunk)\r\nbb8\r\n\(chunk)\r\n0\r\n\r\n"
                )
                #expect(raw.hasPrefix("HTTP/1.1 413"), "\(raw.prefix(80))")
                #expect(raw.contains(#""status":"error""#))
                let small = try await rawExchange(
                    port: gateway.port,
                    "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                )
                #expect(small.hasPrefix("HTTP/1.1 200"), "\(small.prefix(80))")
                #expect(small.contains(#""bodyLength":5"#))
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let raw = try await rawExchange(
                    port: gateway.port,
                    "GET /api/reviews/book/one HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /actuator/health/liveness HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /api/reviews/book/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                let one = try #require(raw.range(of: "/api/reviews/book/one"))
                let live = try #require(raw.range(of: #""status":"UP""#))
                let two = try #require(raw.range(of: "/api/reviews/book/two"))
                #expect(one.lowerBound < live.lowerBound && live.lowerBound < two.lowerBound)
                #expect(raw.components(separatedBy: "HTTP/1.1 200").count == 4)
            }
        }
    }

    @Test func aClientThatHalfClosesStillGetsItsResponse() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let proxied = try await rawExchange(port: gateway.port, "GET /api/reviews/book/h HTTP/1.1\r\nHost: x\r\n\r\n", halfClose: true)
                #expect(proxied.hasPrefix("HTTP/1.1 200") && proxied.contains("/api/reviews/book/h"), "\(proxied.prefix(80))")
                let own = try await rawExchange(port: gateway.port, "GET /actuator/health/liveness HTTP/1.1\r\nHost: x\r\n\r\n", halfClose: true)
                #expect(own.hasPrefix("HTTP/1.1 200"), "\(own.prefix(80))")
            }
        }
    }

    /// On the SocketLoop front end, proxied requests are served on the loop's socket and the first request for the
    /// router moves the connection to a SwiftNIO channel (with what was read of it); requests before, during and after
    /// the move are answered, in order, on the one connection — pipelined, and also one at a time.
    @Test(arguments: [true, false])
    func aConnectionMovesToTheRouterAndGoesOnBeingServed(pipelined: Bool) async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let requests = [
                    "GET /api/reviews/book/first HTTP/1.1\r\nHost: x\r\n\r\n",
                    "GET /actuator/info HTTP/1.1\r\nHost: x\r\n\r\n",
                    "GET /api/reviews/book/third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ]
                let text: String
                if pipelined {
                    text = try await rawExchange(port: gateway.port, requests.joined())
                } else {
                    text = try await rawSequence(port: gateway.port, requests)
                }
                // Responses follow each other without a line break (a body has none at its end): split on the version.
                let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(6) }
                #expect(statuses == ["200 OK", "200 OK", "200 OK"], "\(text.prefix(400))")
                let first = try #require(text.range(of: "/api/reviews/book/first"))
                let info = try #require(text.range(of: "gateway-service"))
                let third = try #require(text.range(of: "/api/reviews/book/third"))
                #expect(first.lowerBound < info.lowerBound && info.lowerBound < third.lowerBound)
                #expect(upstreams[0].behaviour.count(method: "GET") == 2)
            }
        }
    }

    /// With several event loops the port is shared with SO_REUSEPORT, which would let a second gateway listen on it
    /// too: startup must still fail when the port is taken.
    @Test func aSecondGatewayOnTheSamePortFailsToStart() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: ["GATEWAY_EVENT_LOOPS": "2"]) { gateway in
                await #expect(throws: (any Error).self) {
                    _ = try await GatewayApp.build(
                        settings: Settings(
                            environment: gatewayEnvironment(
                                upstreams: allUpstreams(upstreams[0].url),
                                extra: ["GATEWAY_EVENT_LOOPS": "2", "PORT": "\(gateway.port)"]
                            )
                        ),
                        bus: InProcessEventBus()
                    )
                }
                let response = try await send(gateway.url("/api/reviews/book/still-mine"))
                #expect(response.status == 200)
            }
        }
    }

    @Test func expectContinueIsAnsweredByTheGateway() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                let raw = try await rawExchange(
                    port: gateway.port,
                    "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                )
                #expect(raw.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(raw.prefix(40))")
                #expect(raw.contains("HTTP/1.1 200"))
                #expect(raw.contains(#""bodyLength":5"#))
                #expect(!raw.contains("\"expect\""), "Expect is not forwarded")
            }
        }
    }

    @Test func rateLimitIs429WithRetryAfter() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let extra = ["GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "3"]
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: extra) { gateway in
                var statuses: [Int] = []
                for _ in 0..<5 { statuses.append(try await send(gateway.url("/api/reviews/book/b-1")).status) }
                #expect(Array(statuses.prefix(3)) == [200, 200, 200] && statuses.last == 429, "\(statuses)")
                let limited = try await send(gateway.url("/api/reviews/book/b-1"))
                #expect(limited.status == 429)
                #expect(limited.headers.first(name: "Retry-After") == "1")
                #expect(limited.json?["status"] == "error")
                let other = try await send(gateway.url("/api/reviews/book/b-1"), headers: [("X-Forwarded-For", "198.51.100.7, 10.0.0.1")])
                #expect(other.status == 429, "X-Forwarded-For from an untrusted peer does not make it another client")
                #expect(upstreams[0].behaviour.hitCount == statuses.filter { $0 == 200 }.count)
            }
        }
    }

    @Test func aClientSendingARandomForwardedForOnEachRequestIsStillLimited() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let extra = ["GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "3"]
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: extra) { gateway in
                var statuses: [Int] = []
                for index in 0..<10 {
                    let spoofed = "\(Int.random(in: 1...223)).\(Int.random(in: 0...255)).\(index).\(Int.random(in: 1...254))"
                    statuses.append(try await send(gateway.url("/api/reviews/book/b-1"), headers: [("X-Forwarded-For", spoofed)]).status)
                }
                #expect(Array(statuses.prefix(3)) == [200, 200, 200], "\(statuses)")
                #expect(statuses.filter { $0 == 429 }.count >= 4, "the peer is the client, whatever it claims: \(statuses)")
            }
        }
    }

    @Test func behindATrustedProxyTheRightmostUntrustedHopIsTheClient() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let extra = [
                "GATEWAY_RATE_LIMIT_PER_SECOND": "1", "GATEWAY_RATE_LIMIT_BURST": "2", "GATEWAY_TRUSTED_PROXIES": "10.255.0.0/16, 127.0.0.1",
            ]
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: extra) { gateway in
                @Sendable func request(_ forwardedFor: String?) async throws -> TestResponse {
                    try await send(gateway.url("/api/reviews/book/b-1"), headers: forwardedFor.map { [("X-Forwarded-For", $0)] } ?? [])
                }
                let first = try await request("198.51.100.7, 10.0.0.1")
                #expect(first.status == 200)
                #expect(first.json?["headers"]?["x-forwarded-for"] == "198.51.100.7, 10.0.0.1, 127.0.0.1", "a trusted peer's chain is kept")
                #expect(try await request("203.0.113.9, 10.0.0.1, 10.255.3.4").status == 200, "trusted hops are skipped: 10.0.0.1 again")
                #expect(try await request("192.0.2.1, 10.0.0.1").status == 429, "hops left of the client's are its own claims")
                #expect(try await request("10.0.0.2").status == 200, "another client")
                #expect(try await request(nil).status == 200, "the proxy itself, when it sends no X-Forwarded-For")
            }
        }
    }

    @Test func metricsLabelProxiedRequestsByRouteTemplate() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                _ = try await send(gateway.url("/api/reviews/book/b-1"))
                _ = try await send(gateway.url("/api/users/health"))
                let text = try await gateway.metrics()
                let service = ("service", "gateway-service")
                #expect(metricValue(text, "http_requests_total", [service, ("method", "GET"), ("route", "/api/reviews/**"), ("status", "200")]) == 1)
                #expect(
                    metricValue(text, "http_requests_total", [service, ("method", "GET"), ("route", "/api/users/health"), ("status", "200")]) == 1
                )
                let replica = "127.0.0.1:\(upstreams[0].port)"
                #expect(
                    metricValue(
                        text,
                        "gateway_upstream_requests_total",
                        [service, ("upstream", "reviews"), ("replica", replica), ("outcome", "success")]
                    ) == 1
                )
                #expect(metricValue(text, "gateway_upstream_healthy", [service, ("upstream", "reviews"), ("replica", replica)]) == 1)
                let attempt = [service, ("upstream", "reviews"), ("replica", replica)]
                #expect(metricValue(text, "gateway_upstream_request_duration_seconds_count", attempt) == 1)
                let seconds = metricValue(text, "gateway_upstream_request_duration_seconds_sum", attempt) ?? -1
                #expect(seconds > 0 && seconds < 5, "\(seconds)")
                #expect(metricValue(text, "gateway_upstream_request_duration_seconds_bucket", attempt + [("le", "10.0")]) == 1)
                #expect(metricValue(text, "circuit_breaker_state", [service, ("name", "upstream:reviews")]) == 0)
                #expect(metricValue(text, "gateway_retries_total", [service, ("upstream", "reviews")]) == 0)
            }
        }
    }

    @Test func headHTTP10AndChunkedResponsesAreFramedForTheClient() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                // HEAD: the length is kept, no body follows, and the connection serves the next request.
                let head = try await rawExchange(
                    port: gateway.port,
                    "HEAD /api/reviews/book/h HTTP/1.1\r\nHost: x\r\n\r\nGET /api/reviews/book/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                let parts = head.components(separatedBy: "HTTP/1.1 200 OK")
                #expect(parts.count == 3, "\(head)")
                #expect(parts[1].contains("Content-Length:") && !parts[1].contains("{"), "no body after a HEAD response")
                #expect(parts[2].contains("/api/reviews/book/after"))

                // A chunked response stays chunked for an HTTP/1.1 client…
                let chunked = try await rawExchange(
                    port: gateway.port,
                    "GET /api/auth/download/40000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                #expect(chunked.contains("transfer-encoding: chunked") || chunked.contains("Transfer-Encoding: chunked"))
                #expect(chunked.hasSuffix("0\r\n\r\n"))
                // …and is decoded and delimited by the close for an HTTP/1.0 one.
                let old = try await rawExchange(port: gateway.port, "GET /api/auth/download/40000 HTTP/1.0\r\nHost: x\r\n\r\n")
                #expect(old.hasPrefix("HTTP/1.1 200"))
                #expect(!old.lowercased().contains("transfer-encoding"))
                #expect(old.contains("Connection: close"))
                let body = try #require(old.range(of: "\r\n\r\n")).upperBound
                #expect(old[body...].utf8.count == 40000)

                // HTTP/1.0 with keep-alive: two requests on one connection.
                let keepAlive = try await rawExchange(
                    port: gateway.port,
                    "GET /api/reviews/book/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /api/reviews/book/2 HTTP/1.0\r\n\r\n"
                )
                #expect(keepAlive.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(keepAlive)")
                #expect(keepAlive.contains("Connection: keep-alive"))
            }
        }
    }

    @Test func malformedRequestsAre400AndClose() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            try await withGateway(upstreams: allUpstreams(upstreams[0].url)) { gateway in
                for request in [
                    "GET /api/reviews/x HTTP/1.1\r\nHost : x\r\n\r\n",
                    "POST /api/reviews/x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    "POST /api/auth/register HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ] {
                    let raw = try await rawExchange(port: gateway.port, request)
                    #expect(raw.hasPrefix("HTTP/1.1 400"), "\(raw.prefix(60))")
                    #expect(raw.contains("Connection: close"))
                    #expect(raw.contains(#""status":"error""#))
                }
                let unsupported = try await rawExchange(port: gateway.port, "POST /api/reviews/x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
                #expect(unsupported.hasPrefix("HTTP/1.1 501"))
                #expect(upstreams[0].behaviour.hitCount == 0)
            }
        }
    }

    @Test func idleAndSlowClientConnectionsAreClosedButBusyOnesAreNot() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            let extra = ["GATEWAY_CLIENT_IDLE_TIMEOUT_MS": "300", "GATEWAY_READ_TIMEOUT_MS": "5000"]
            try await withGateway(upstreams: allUpstreams(upstreams[0].url), extra: extra) { gateway in
                // A kept-alive connection after its response, one that never sends anything, a head sent too slowly:
                // each is closed by the gateway after the idle timeout (rawExchange waits up to 5 s for the close).
                for (request, answered) in [
                    ("GET /api/reviews/book/k HTTP/1.1\r\nHost: x\r\n\r\n", true),
                    ("GET /actuator/health/liveness HTTP/1.1\r\nHost: x\r\n\r\n", true),
                    ("", false),
                    ("GET /api/reviews/book/slowloris HTTP/1.1\r\nHost: x\r\n", false),
                ] {
                    let start = ContinuousClock.now
                    let raw = try await rawExchange(port: gateway.port, request)
                    let elapsed = ContinuousClock.now - start
                    #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "closed after \(elapsed): \(request.prefix(40))")
                    #expect(raw.hasPrefix("HTTP/1.1 200") == answered, "\(raw.prefix(40))")
                }
                // A request whose response takes longer than the idle timeout is not cut.
                let slow = try await rawExchange(port: gateway.port, "GET /api/reviews/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(slow.hasPrefix("HTTP/1.1 200"), "\(slow.prefix(40))")
            }
        }
    }

    @Test func aBasePathInTheReplicaURLPrefixesEveryPath() async throws {
        try await withUpstreams(["u0"]) { upstreams in
            var replicas = allUpstreams(upstreams[0].url)
            replicas["REVIEW_SERVICE_URL"] = upstreams[0].url + "/base/"
            try await withGateway(upstreams: replicas) { gateway in
                let response = try await send(gateway.url("/api/reviews/book/b-1?x=2"))
                #expect(response.json?["path"] == "/base/api/reviews/book/b-1")
                #expect(response.json?["query"] == "x=2")
            }
        }
    }
}
