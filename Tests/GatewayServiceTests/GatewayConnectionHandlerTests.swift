import BookstoreCore
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import GatewayService

/// The client connection handler on an `EmbeddedChannel` (no sockets, no upstreams): keep-alive, pipelining, errors
/// at the edge, half-closes, `Connection: close` and shutdown, with requests the gateway answers
/// itself (401, 413, 400) or passes on to the router behind it.
@Suite struct GatewayConnectionHandlerTests {
    /// A client connection with the gateway's handler; what the handler passes on to the router's side arrives as
    /// inbound bytes and events at the end of the pipeline.
    final class Connection {
        let channel = EmbeddedChannel()
        let handler: GatewayConnectionHandler
        let routerSide = RouterSide()

        init(maxBodyBytes: Int = 1000) throws {
            var configuration = try GatewayConfiguration(settings: Settings(), maxBodyBytes: maxBodyBytes)
            configuration.ejection = EjectionPolicy()
            let upstream = Upstream(
                name: "users",
                readinessPath: "/api/health/ready",
                targets: [ReplicaTarget(host: "127.0.0.1", port: 9)],
                configuration: configuration,
                metrics: nil,
                logger: .init(label: "test")
            )
            let routes = RouteTable.defaults.routes.map { ResolvedRoute(route: $0, upstream: upstream, responseTimeout: .seconds(1)) }
            let proxy = GatewayProxy(
                planner: ProxyPlanner(
                    routes: routes,
                    tokens: TokenService(settings: TokenSettings(secret: gatewaySecret)),
                    limiter: nil,
                    trustedProxies: .none,
                    maxBodyBytes: maxBodyBytes,
                    allowOrigin: "*"
                ),
                pools: ConnectionPools(connectTimeout: .seconds(1), maxIdlePerEndpoint: 1),
                settings: ExchangeSettings(
                    maxAttempts: configuration.maxAttempts,
                    backoff: configuration.retryBackoff,
                    replayableBodyLimit: configuration.replayableBodyLimit
                ),
                metrics: ServiceMetrics(service: "gateway-test"),
                renderError: GatewayApp.renderError,
                accessLog: false,
                logger: .init(label: "test"),
                clientIdleTimeout: .seconds(60),
                clientWriteTimeout: .seconds(5),
                clientDrainTimeout: .seconds(5)
            )
            self.handler = GatewayConnectionHandler(proxy: proxy)
            try self.channel.pipeline.syncOperations.addHandlers([self.handler, self.routerSide])
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        }

        deinit {
            _ = try? self.channel.finish(acceptAlreadyClosed: true)
        }

        func send(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }

        /// The bytes written to the client since the last call (a CRLF between writes, so that each of the gateway's
        /// own responses, one write each, starts on a line).
        func received() throws -> String {
            var writes: [String] = []
            while let data = try self.channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(let buffer) = data { writes.append(String(buffer: buffer)) }
            }
            return writes.joined(separator: "\r\n")
        }

        /// The bytes passed on to the router since the last call.
        func forwarded() throws -> String {
            var text = ""
            while let buffer = try self.channel.readInbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        /// Status lines of `responses`, in order.
        static func statusLines(_ responses: String) -> [String] {
            responses.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }
        }

        var isOpen: Bool { self.channel.isActive }
    }

    /// Stands for the router's side of the pipeline: passes reads on, and records the events it hears of.
    final class RouterSide: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var events: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.fireChannelRead(data)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            self.events.append("\(event)")
        }
    }

    @Test func keepAliveRequestsAreAnsweredOneAfterAnother() throws {
        let connection = try Connection()
        try connection.send("GET /api/users/me HTTP/1.1\r\nHost: gw\r\nX-Request-ID: first-request\r\n\r\n")
        let first = try connection.received()
        #expect(first.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        #expect(first.contains("X-Request-ID: first-request\r\n"))
        #expect(!first.contains("Connection:"), "HTTP/1.1 keeps the connection open by default")
        #expect(connection.isOpen)
        try connection.send("GET /api/users/me HTTP/1.1\r\nHost: gw\r\n\r\n")
        #expect(try connection.received().hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        #expect(connection.isOpen)
        #expect(try connection.forwarded().isEmpty, "the router hears of nothing")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let connection = try Connection()
        let routerRequest = "GET /not-proxied HTTP/1.1\r\nHost: gw\r\n\r\n"
        try connection.send(routerRequest + "GET /api/users/me HTTP/1.1\r\n\r\nGET /api/users/../me HTTP/1.1\r\n\r\n")
        #expect(try connection.forwarded() == routerRequest, "only the first request goes to the router")
        #expect(try connection.received().isEmpty, "the next request waits for the router's response")
        connection.handler.routerResponseEnded()
        let responses = try connection.received()
        #expect(Connection.statusLines(responses) == ["HTTP/1.1 401 Unauthorized", "HTTP/1.1 400 Bad Request"])
        #expect(connection.isOpen)
        try connection.send("GET /api/users/me HTTP/1.1\r\n\r\n")
        #expect(Connection.statusLines(try connection.received()) == ["HTTP/1.1 401 Unauthorized"])
    }

    @Test func aRouterRequestsBodyGoesToTheRouterEvenAfterItsResponse() throws {
        let connection = try Connection()
        try connection.send("POST /not-proxied HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
        #expect(try connection.forwarded() == "POST /not-proxied HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
        connection.handler.routerResponseEnded()
        try connection.send("67890GET /api/users/me HTTP/1.1\r\n\r\n")
        #expect(try connection.forwarded() == "67890")
        #expect(Connection.statusLines(try connection.received()) == ["HTTP/1.1 401 Unauthorized"])
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET /api/users/me HTTP/2.0\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("POST /api/auth/login HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 Not Implemented"),
        ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 70_000), "HTTP/1.1 431 Request Header Fields Too Large"),
    ])
    func aMalformedHeadIsAnsweredThenTheConnectionCloses(_ request: String, _ status: String) throws {
        let connection = try Connection()
        try connection.send("GET /api/users/me HTTP/1.1\r\n\r\n")
        _ = try connection.received()
        try connection.send(request + "GET /api/users/me HTTP/1.1\r\n\r\n")
        let response = try connection.received()
        #expect(Connection.statusLines(response) == [status], "nothing after the malformed head is answered")
        #expect(response.contains("\r\nConnection: close\r\n"))
        #expect(!connection.isOpen)
        #expect(try connection.forwarded().isEmpty)
    }

    @Test func aMalformedChunkedBodyIsAnsweredThenTheConnectionCloses() throws {
        let connection = try Connection()
        try connection.send("POST /api/users/me HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(Connection.statusLines(try connection.received()) == ["HTTP/1.1 401 Unauthorized"], "answered before the body")
        #expect(connection.isOpen)
        try connection.send("zz\r\n")
        #expect(!connection.isOpen, "the body cannot be framed: the connection cannot continue")
    }

    @Test func anEarlyAnswerDrainsTheRestOfTheBodyBeforeTheNextRequest() throws {
        let connection = try Connection()
        try connection.send("POST /api/users/me HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
        #expect(Connection.statusLines(try connection.received()) == ["HTTP/1.1 401 Unauthorized"])
        try connection.send("67890GET /api/users/me HTTP/1.1\r\n\r\n")
        #expect(Connection.statusLines(try connection.received()) == ["HTTP/1.1 401 Unauthorized"], "the body's rest is not a request")
        #expect(connection.isOpen)
    }

    @Test func aBodyOverTheLimitIsAnsweredAndTheConnectionCloses() throws {
        let connection = try Connection(maxBodyBytes: 100)
        try connection.send("POST /api/auth/register HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
        let response = try connection.received()
        #expect(response.hasPrefix("HTTP/1.1 413 Content Too Large\r\n") && response.contains("\r\nConnection: close\r\n"))
        #expect(!connection.isOpen)
    }

    @Test func aHalfCloseMidBodyClosesTheConnection() throws {
        let connection = try Connection()
        try connection.send("POST /api/users/me HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
        _ = try connection.received()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!connection.isOpen, "the rest of the body will never come")
        #expect(connection.routerSide.events.isEmpty)
    }

    @Test func aHalfCloseDuringARouterRequestIsTheRoutersToHandle() throws {
        let connection = try Connection()
        try connection.send("POST /not-proxied HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(connection.isOpen)
        #expect(connection.routerSide.events == ["\(ChannelEvent.inputClosed)"])
    }

    @Test func aHalfCloseOfAnIdleConnectionClosesIt() throws {
        let connection = try Connection()
        try connection.send("GET /api/users/me HTTP/1.1\r\n\r\n")
        _ = try connection.received()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!connection.isOpen)
    }

    @Test func aClientCloseMidBodyEndsTheRequestQuietly() throws {
        let connection = try Connection()
        try connection.send("POST /api/users/me HTTP/1.1\r\nContent-Length: 10\r\n\r\n123")
        _ = try connection.received()
        try connection.channel.close().wait()
        #expect(!connection.isOpen)
        #expect(try connection.received().isEmpty, "nothing more is written")
    }

    @Test(arguments: [
        ("GET /api/users/me HTTP/1.1\r\nConnection: close\r\n\r\n", "Connection: close", false),
        ("GET /api/users/me HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", "Connection: close", false),
        ("GET /api/users/me HTTP/1.0\r\n\r\n", "Connection: close", false),
        ("GET /api/users/me HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "Connection: keep-alive", true),
        ("GET /api/users/me HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", nil, true),
    ])
    func connectionFieldsAreHonoured(_ request: String, _ field: String?, _ staysOpen: Bool) throws {
        let connection = try Connection()
        try connection.send(request + "GET /api/users/me HTTP/1.1\r\n\r\n")
        let response = try connection.received()
        if let field {
            #expect(response.contains("\r\n\(field)\r\n"))
        } else {
            #expect(!response.contains("Connection:"))
        }
        #expect(connection.isOpen == staysOpen)
        #expect(Connection.statusLines(response).count == (staysOpen ? 2 : 1), "a pipelined request after a close is not answered")
    }

    @Test func aShutdownClosesAnIdleConnectionAtOnce() throws {
        let connection = try Connection()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!connection.isOpen)
    }

    @Test func aShutdownLetsTheCurrentRequestFinish() throws {
        let connection = try Connection()
        try connection.send("POST /api/users/me HTTP/1.1\r\nContent-Length: 3\r\n\r\n1")
        _ = try connection.received()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(connection.isOpen, "the request's body may still come")
        try connection.send("23")
        #expect(connection.isOpen)
        try connection.send("GET /api/users/me HTTP/1.1\r\n\r\n")
        let response = try connection.received()
        #expect(response.contains("\r\nConnection: close\r\n"))
        #expect(!connection.isOpen)
    }

    @Test func aShutdownDuringARouterRequestIsPassedOn() throws {
        let connection = try Connection()
        try connection.send("GET /not-proxied HTTP/1.1\r\n\r\nGET /api/users/me HTTP/1.1\r\n\r\n")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(connection.routerSide.events.count == 1)
        connection.handler.routerResponseEnded()
        #expect(try connection.received().isEmpty, "the router's handler closes after its response: no next request")
    }
}
