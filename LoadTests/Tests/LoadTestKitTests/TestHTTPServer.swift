import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small in-process HTTP/1.1 server on 127.0.0.1 for engine tests: routes by closure and can stall once.
final class TestHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    struct Response: Sendable {
        var status: Int
        var body: String
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        var delay: Duration = .zero
        var chunked = false
        /// Answers with `Connection: close` and closes after the response.
        var closeConnection = false
        /// Closes after the response without saying so (a keep-alive response), as a server does when its idle timeout
        /// races the client's next request.
        var closesWithoutNotice = false
    }

    /// Holds every response arriving during a window back until the window ends.
    final class Stall: Sendable {
        private struct State {
            var requests = 0
            var stallUntil: NIODeadline?
        }

        let afterRequests: Int
        let length: TimeAmount
        private let state = Mutex(State())

        init(afterRequests: Int, length: TimeAmount) {
            self.afterRequests = afterRequests
            self.length = length
        }

        /// How long to hold the response to the request just received.
        func delayForNextRequest() -> TimeAmount {
            state.withLock { state in
                state.requests += 1
                let now = NIODeadline.now()
                if state.stallUntil == nil, state.requests == afterRequests {
                    state.stallUntil = now + length
                }
                if let until = state.stallUntil, until > now { return until - now }
                return .zero
            }
        }

        var started: Bool { state.withLock { $0.stallUntil != nil } }
    }

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let received = Mutex<[Request]>([])
    let requestCount = Atomic<Int>(0)

    var port: Int { channel.localAddress?.port ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts a server.
    ///
    /// - Parameters:
    ///   - keepsRequests: Whether to keep every request (for assertions); off for high-volume tests.
    ///   - stall: An optional one-time stall.
    ///   - route: Answers a request.
    init(
        threads: Int = 1,
        keepsRequests: Bool = false,
        stall: Stall? = nil,
        route: @escaping @Sendable (Request) -> Response = { _ in Response(status: 200, body: "{\"ok\":true}") }
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.group = group
        let box = ServerBox()
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(keepsRequests: keepsRequests, stall: stall, route: route, server: box)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        box.server.withLock { $0 = self }
    }

    func requests() -> [Request] {
        received.withLock { $0 }
    }

    func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    final class ServerBox: Sendable {
        let server = Mutex<TestHTTPServer?>(nil)
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let keepsRequests: Bool
        let stall: Stall?
        let route: @Sendable (Request) -> Response
        let server: ServerBox
        var head: HTTPRequestHead?
        var body = ""

        init(keepsRequests: Bool, stall: Stall?, route: @escaping @Sendable (Request) -> Response, server: ServerBox) {
            self.keepsRequests = keepsRequests
            self.stall = stall
            self.route = route
            self.server = server
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(var buffer):
                body += buffer.readString(length: buffer.readableBytes) ?? ""
            case .end:
                guard let head else { return }
                let request = Request(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body)
                let serverRef = server.server.withLock { $0 }
                serverRef?.requestCount.wrappingAdd(1, ordering: .relaxed)
                if keepsRequests { serverRef?.received.withLock { $0.append(request) } }
                let response = route(request)
                var delay = stall?.delayForNextRequest() ?? .zero
                if response.delay > .zero {
                    delay =
                        delay
                        + .nanoseconds(
                            Int64(response.delay.components.seconds) * 1_000_000_000 + response.delay.components.attoseconds / 1_000_000_000
                        )
                }
                let keepAlive = head.isKeepAlive && !response.closeConnection
                if delay > .zero {
                    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: delay) {
                        let (handler, context) = bound.value
                        handler.respond(context: context, response: response, keepAlive: keepAlive)
                    }
                } else {
                    respond(context: context, response: response, keepAlive: keepAlive)
                }
            }
        }

        func respond(context: ChannelHandlerContext, response: Response, keepAlive: Bool) {
            guard context.channel.isActive else { return }
            var headers = HTTPHeaders(response.headers)
            if response.chunked {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                headers.add(name: "Content-Length", value: String(response.body.utf8.count))
            }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
            context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
            if !response.body.isEmpty {
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.body)))), promise: nil)
            }
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: promise)
            if !keepAlive || response.closesWithoutNotice {
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
            }
        }
    }
}
