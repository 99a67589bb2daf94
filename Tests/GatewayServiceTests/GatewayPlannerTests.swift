import BookstoreCore
import Foundation
import HTTPTypes
import HTTPWire
import Logging
import NIOCore
import Testing

@testable import GatewayService

/// The fast path's byte-level rewriting: the planner's request heads and decisions, and response heads. (The HTTP/1.1
/// parsing itself is tested in HTTPWireTests.)
@Suite struct GatewayPlannerTests {
    func parseRequest(_ text: String) throws -> MessageHead {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        return try #require(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned))
    }

    // MARK: Planner and response heads

    func planner(maxBodyBytes: Int = 1000, limiter: RateLimiter? = nil, trustedProxies: TrustedProxies = .none) throws -> ProxyPlanner {
        var configuration = try GatewayConfiguration(settings: Settings(), maxBodyBytes: maxBodyBytes)
        configuration.ejection = EjectionPolicy()
        let upstream = Upstream(
            name: "reviews",
            readinessPath: "/api/health/ready",
            targets: [ReplicaTarget(host: "127.0.0.1", port: 9)],
            configuration: configuration,
            metrics: nil,
            logger: .init(label: "test")
        )
        let routes = RouteTable.defaults.routes.map { ResolvedRoute(route: $0, upstream: upstream, responseTimeout: .seconds(1)) }
        return ProxyPlanner(
            routes: routes,
            tokens: TokenService(settings: TokenSettings(secret: gatewaySecret)),
            limiter: limiter,
            trustedProxies: trustedProxies,
            maxBodyBytes: maxBodyBytes,
            allowOrigin: "*"
        )
    }

    func forwarded(_ plan: ProxyPlan) throws -> (ProxyRequest, String) {
        guard case .forward(let request, let label, _) = plan else {
            Issue.record("not forwarded: \(plan)")
            throw CancellationError()
        }
        return (request, label)
    }

    /// A connection plans each request's head into the buffer of the last one: a request still held (an exchange that
    /// could retry it) keeps its head as planned.
    @Test func aHeadPlannedIntoAReusedBufferLeavesTheLastOneIntact() throws {
        let planner = try self.planner()
        var ids = RequestIDGenerator(seed: 1)
        var buffer = ReusableBuffer()
        let first = try self.parseRequest("GET /api/reviews/book/first HTTP/1.1\r\nHost: gw\r\nX-Request-ID: one\r\n\r\n")
        let second = try self.parseRequest("GET /api/reviews/book/2 HTTP/1.1\r\nHost: gw\r\nX-Request-ID: two\r\n\r\n")
        func plan(_ head: MessageHead) throws -> ProxyRequest {
            let plan = planner.planIfProxied(
                head,
                method: head.method,
                target: head.target,
                clientAddress: "10.0.0.9",
                requestIDs: &ids,
                headBuffer: &buffer
            )
            return try self.forwarded(try #require(plan)).0
        }
        let held = try plan(first)
        let planned = String(buffer: held.head)
        let next = try plan(second)
        #expect(String(buffer: held.head) == planned)
        #expect(planned.hasPrefix("GET /api/reviews/book/first HTTP/1.1\r\n") && planned.hasSuffix("X-Request-ID: one\r\n"))
        #expect(String(buffer: next.head).hasPrefix("GET /api/reviews/book/2 HTTP/1.1\r\n"))
        #expect(String(buffer: next.head).hasSuffix("X-Request-ID: two\r\n"))
    }

    @Test func plannerRewritesTheHeadAndStripsHopByHopFields() throws {
        let planner = try self.planner()
        var ids = RequestIDGenerator(seed: 1)
        let head = try self.parseRequest(
            "GET /api/payments-python/user/u-1?x=1 HTTP/1.1\r\nHost: gw:8080\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
                + "Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: p\r\nX-Forwarded-For: 1.2.3.4\r\n"
                + "X-Request-ID: abc\r\nAuthorization: Bearer \(userToken)\r\nAccept: */*\r\nOrigin: https://o\r\n\r\n"
        )
        let (request, label) = try self.forwarded(planner.plan(head, clientAddress: "10.0.0.9", requestIDs: &ids))
        #expect(label == "/api/payments-python/**")
        #expect(String(buffer: request.head).hasPrefix("GET /api/payments/user/u-1?x=1 HTTP/1.1\r\n"))
        #expect(request.requestID == "abc" && request.isIdempotent && request.allowOrigin == "*")
        let fields = String(buffer: request.head)
        #expect(fields.contains("Authorization: Bearer \(userToken)\r\n"))
        #expect(fields.contains("Accept: */*\r\n"))
        #expect(fields.contains("X-Forwarded-For: 10.0.0.9\r\n") && !fields.contains("1.2.3.4"), "an untrusted peer's chain is discarded")
        #expect(fields.contains("X-Forwarded-Proto: http\r\n") && fields.contains("X-Forwarded-Host: gw:8080\r\n"))
        #expect(fields.contains("X-Request-ID: abc\r\n"))
        #expect(String(buffer: request.head).hasSuffix("X-Request-ID: abc\r\n"), "Host and the empty line come per replica")
        for dropped in ["Connection", "X-Hop", "Keep-Alive", "TE:", "Upgrade", "Proxy-Authorization", "Host:"] {
            #expect(!fields.hasPrefix(dropped) && !fields.contains("\n" + dropped), "\(dropped)")
        }
    }

    @Test func forwardedForCannotDrainAnotherClientsBucket() throws {
        let planner = try self.planner(limiter: RateLimiter(perMinute: 60, burst: 2))
        var ids = RequestIDGenerator(seed: 1)
        func isLimited(_ plan: ProxyPlan) -> Bool {
            if case .reject(let error, _, _, _) = plan { return error.status == .tooManyRequests }
            return false
        }
        let spoofing = try self.parseRequest("GET /api/reviews/book/b-1 HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
        var attacker: [Bool] = []
        for _ in 0..<4 { attacker.append(isLimited(planner.plan(spoofing, clientAddress: "198.51.100.66", requestIDs: &ids))) }
        #expect(attacker == [false, false, true, true], "the sender spends its own bucket")
        let plain = try self.parseRequest("GET /api/reviews/book/b-1 HTTP/1.1\r\nHost: gw\r\n\r\n")
        #expect(!isLimited(planner.plan(plain, clientAddress: "203.0.113.7", requestIDs: &ids)), "the named address's bucket is untouched")
        #expect(isLimited(planner.plan(plain, clientAddress: "198.51.100.66", requestIDs: &ids)))
    }

    @Test func aTrustedPeersChainIsKeptAndItsClientHopLimited() throws {
        let planner = try self.planner(limiter: RateLimiter(perMinute: 60, burst: 1), trustedProxies: TrustedProxies(["10.0.0.0/8"]))
        var ids = RequestIDGenerator(seed: 1)
        let head = try self.parseRequest(
            "GET /api/reviews/book/b-1 HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1, 203.0.113.7\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n"
        )
        let (request, _) = try self.forwarded(planner.plan(head, clientAddress: "10.0.0.9", requestIDs: &ids))
        #expect(String(buffer: request.head).contains("X-Forwarded-For: 192.0.2.1, 203.0.113.7, 10.1.1.1, 10.0.0.9\r\n"))
        let sameClient = try self.parseRequest("GET /api/reviews/book/b-1 HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
        guard case .reject(let error, _, _, _) = planner.plan(sameClient, clientAddress: "10.0.0.8", requestIDs: &ids) else {
            Issue.record("203.0.113.7 was not limited")
            return
        }
        #expect(error.status == .tooManyRequests)
    }

    @Test func plannerDecidesFramingLimitsAndRetrySafety() throws {
        let planner = try self.planner(maxBodyBytes: 100)
        var ids = RequestIDGenerator(seed: 1)
        let post = try self.parseRequest("POST /api/auth/register HTTP/1.1\r\nContent-Length: 10\r\n\r\n")
        let (request, _) = try self.forwarded(planner.plan(post, clientAddress: "c", requestIDs: &ids))
        #expect(!request.isIdempotent && request.framing == .length(10))
        #expect(String(buffer: request.head).contains("Content-Length: 10\r\n"))
        #expect(request.requestID.count == 36, "a new id")
        let keyed = try self.parseRequest("POST /api/auth/register HTTP/1.1\r\nIdempotency-Key: k\r\nTransfer-Encoding: chunked\r\n\r\n")
        let (keyedRequest, _) = try self.forwarded(planner.plan(keyed, clientAddress: "c", requestIDs: &ids))
        #expect(keyedRequest.isIdempotent && keyedRequest.framing == .chunked)
        #expect(String(buffer: keyedRequest.head).contains("Transfer-Encoding: chunked\r\n"))
        let large = try self.parseRequest("POST /api/auth/register HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
        guard case .reject(let error, _, _, let close) = planner.plan(large, clientAddress: "c", requestIDs: &ids) else {
            Issue.record("not rejected")
            return
        }
        #expect(error.status == .contentTooLarge && close)
        let protected = try self.parseRequest("GET /api/users/me HTTP/1.1\r\nAuthorization: Basic x\r\n\r\n")
        guard case .reject(let unauthorized, _, _, _) = planner.plan(protected, clientAddress: "c", requestIDs: &ids) else {
            Issue.record("not rejected")
            return
        }
        #expect(unauthorized.status == .unauthorized)
    }

    @Test func responseHeadsAreFilteredAndCompleted() throws {
        var buffer = ByteBuffer(
            string: "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                + "Transfer-Encoding: chunked\r\nX-Request-ID: upstream\r\nKeep-Alive: timeout=5\r\nX-Gateway-Service: other\r\n\r\n"
        )
        var scanned = 0
        let head = try #require(try MessageHead.parse(from: &buffer, isRequest: false, scanned: &scanned))
        var output = ByteBuffer()
        ResponseHead.write(head, into: &output, requestID: "rid", allowOrigin: "https://o", keepsTransferEncoding: true, connection: .close)
        let text = String(buffer: output)
        #expect(text.hasPrefix("HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"))
        #expect(
            text.hasSuffix(
                "X-Request-ID: rid\r\nX-Gateway-Service: bookstore-gateway\r\nAccess-Control-Allow-Origin: https://o\r\nVary: Origin\r\nConnection: close\r\n\r\n"
            )
        )
        for dropped in ["X-Secret", "keep-alive", "Keep-Alive", "upstream", "other"] { #expect(!text.contains(dropped), "\(dropped)") }
        let fields = ResponseHead.fields(head, requestID: "rid", allowOrigin: nil)
        #expect(fields.map(\.0) == ["Content-Type", "X-Request-ID", "X-Gateway-Service"])
    }
}
