import BookstoreCore
import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1

/// The gateway's fast path, one per client connection, right after NIO's HTTP/1.1 server codec.
///
/// Requests on proxied routes are planned and forwarded here, on the connection's event loop, with connections from
/// that loop's pool: no task switch, no thread hop, bodies streamed both ways with backpressure (reads are held back
/// while the other side cannot take more). Every other request (the gateway's own endpoints, CORS preflights,
/// unknown paths) passes on to the Hummingbird router behind this handler. Requests on one connection are answered
/// in order; a pipelined request waits (and reading pauses) until the one before it is answered.
///
/// On a graceful shutdown (`ChannelShouldQuiesceEvent`) an idle connection closes at once and a busy one after its
/// response, so in-flight requests complete.
final class GatewayConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, ProxyExchangeDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode {
        case idle
        /// Forwarding the current request.
        case proxying(ProxyExchange)
        /// The response is out (an error at the edge, or an early upstream answer); the rest of the request body is
        /// read and dropped (up to the body limit) before the next request.
        case draining
        /// The router behind answers the current request.
        case delegated
        /// The connection is closing.
        case closing
    }

    private let proxy: GatewayProxy
    private var mode: Mode = .idle
    private var context: ChannelHandlerContext?
    private var pool: ConnectionPool?
    private var clientAddress = "unknown"
    private var requestIDs = RequestIDGenerator()
    private var seeds = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    /// Parts of pipelined requests received while the current one is being answered.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var isReadPending = false
    private var closesAfterResponse = false

    // The current request.
    private var start = ContinuousClock.now
    private var method = ""
    private var uri = ""
    private var routeLabel = ""
    private var version = HTTPVersion.http1_1
    private var isKeepAlive = true
    private var isRequestEnded = true
    private var isResponseEnded = true
    private var bodyBytes = 0
    private var status = 0

    init(proxy: GatewayProxy) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.pool = self.proxy.pools.pool(for: context.eventLoop)
        self.clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if !self.queued.isEmpty || (!self.isIdle && self.isRequestEnded) {
            self.queued.append(part)
            return
        }
        self.handle(part, context: context)
    }

    private var isIdle: Bool {
        if case .idle = self.mode { return true }
        return false
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch self.mode {
        case .idle:
            guard case .head(let head) = part else { return }
            self.begin(head, context: context)
        case .proxying(let exchange):
            switch part {
            case .head:
                break
            case .body(let buffer):
                self.bodyBytes += buffer.readableBytes
                if self.bodyBytes > self.proxy.planner.maxBodyBytes {
                    self.bodyTooLarge(exchange, context: context)
                } else {
                    exchange.receiveRequestBodyPart(buffer)
                }
            case .end:
                self.isRequestEnded = true
                exchange.receiveRequestEnd()
            }
        case .draining:
            switch part {
            case .head:
                break
            case .body(let buffer):
                self.bodyBytes += buffer.readableBytes
                if self.bodyBytes > self.proxy.planner.maxBodyBytes { self.close(context: context) }
            case .end:
                self.isRequestEnded = true
                self.completeRequest(context: context)
            }
        case .delegated:
            context.fireChannelRead(self.wrapInboundOut(part))
            if case .end = part {
                self.isRequestEnded = true
                if self.isResponseEnded { self.delegatedRequestDone(context: context) }
            }
        case .closing:
            break
        }
        self.readIfPending(context: context)
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        self.start = .now
        self.method = head.method.rawValue
        self.uri = head.uri
        self.version = head.version
        self.isKeepAlive = head.isKeepAlive
        self.isRequestEnded = false
        self.isResponseEnded = false
        self.bodyBytes = 0
        self.status = 0
        let planner = self.proxy.planner
        let isPreflight = head.method == .OPTIONS && head.headers.contains(name: "access-control-request-method")
        if isPreflight || planner.route(for: ProxyPlanner.splitTarget(head.uri).path) == nil {
            self.mode = .delegated
            context.fireChannelRead(self.wrapInboundOut(.head(head)))
            return
        }
        switch planner.plan(head, clientAddress: self.clientAddress, requestIDs: &self.requestIDs) {
        case .reject(let error, let requestID, let routeLabel, let closeConnection):
            self.mode = .draining
            self.routeLabel = routeLabel
            let allowOrigin = head.headers.contains(name: "origin") ? planner.allowOrigin : nil
            self.respond(with: error, requestID: requestID, allowOrigin: allowOrigin, closeConnection: closeConnection, context: context)
        case .forward(let request, let routeLabel, let expectsContinue):
            self.routeLabel = routeLabel
            guard let pool = self.pool else { return }
            let exchange = ProxyExchange(request: request, pool: pool, settings: self.proxy.settings, delegate: self, seed: self.seeds.next())
            self.mode = .proxying(exchange)
            if expectsContinue {
                context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
            exchange.start()
        }
    }

    private func bodyTooLarge(_ exchange: ProxyExchange, context: ChannelHandlerContext) {
        let requestID = exchange.requestID
        exchange.cancel()
        if exchange.isResponseStarted || self.status != 0 {
            self.close(context: context)
        } else {
            self.mode = .draining
            self.respond(
                with: .payloadTooLarge(limit: self.proxy.planner.maxBodyBytes),
                requestID: requestID,
                allowOrigin: nil,
                closeConnection: true,
                context: context
            )
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .proxying(let exchange) = self.mode {
            exchange.cancel()
            if !self.isResponseEnded { self.record(status: 499) }
        }
        self.mode = .closing
        self.queued.removeAll()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .proxying(let exchange) = self.mode {
            exchange.downstreamWritabilityChanged(isWritable: context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch self.mode {
        case .proxying(let exchange):
            exchange.cancel()
            self.close(context: context)
        case .draining, .closing:
            self.close(context: context)
        case .idle, .delegated:
            // The router's connection loop answers parse errors with 400 and closes.
            context.fireErrorCaught(error)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch self.mode {
        case .idle:
            if self.queued.isEmpty {
                context.fireUserInboundEventTriggered(event)
            } else {
                self.closesAfterResponse = true
            }
        case .delegated:
            self.closesAfterResponse = true
            context.fireUserInboundEventTriggered(event)
        case .proxying, .draining:
            self.closesAfterResponse = true
        case .closing:
            break
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only the router's responses (delegated requests) pass through here.
        context.write(data, promise: promise)
        if case .delegated = self.mode, case .end = self.unwrapOutboundIn(data) {
            self.isResponseEnded = true
            if self.isRequestEnded { self.delegatedRequestDone(context: context) }
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.shouldRead {
            context.read()
        } else {
            self.isReadPending = true
        }
    }

    /// Whether to read from the client now. Reading continues after a request's end (so that a closed connection is
    /// noticed, and without the cost of changing the socket's interest set for every request) until a few pipelined
    /// parts are queued; a request body is read only as fast as the upstream takes it.
    private var shouldRead: Bool {
        switch self.mode {
        case .idle, .draining:
            return true
        case .proxying(let exchange):
            return self.isRequestEnded ? self.queued.count < Self.maxQueuedParts : exchange.wantsRequestBody
        case .delegated:
            return !self.isRequestEnded || self.queued.count < Self.maxQueuedParts
        case .closing:
            return false
        }
    }

    private static let maxQueuedParts = 16

    private func readIfPending(context: ChannelHandlerContext) {
        if self.isReadPending && self.shouldRead {
            self.isReadPending = false
            context.read()
        }
    }

    // MARK: ProxyExchangeDelegate

    func exchangeDidReceiveHead(_ head: HTTPResponseHead) {
        guard let context else { return }
        var head = head
        self.status = Int(head.status.code)
        if self.mustClose || (head.version.minor == 0 && !head.headers.contains(name: "content-length")) {
            self.closesAfterResponse = true
            head.headers.add(name: "Connection", value: "close")
        } else if head.version.minor == 0 {
            head.headers.add(name: "Connection", value: "keep-alive")
        }
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
    }

    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer) {
        self.context?.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func exchangeShouldFlush() {
        self.context?.flush()
    }

    func exchangeDidFinish(trailers: HTTPHeaders?) {
        guard let context else { return }
        self.record(status: self.status)
        self.endResponse(trailers: trailers, closeConnection: false, context: context)
    }

    func exchangeDidFail(_ error: APIError, responseStarted: Bool) {
        guard let context, case .proxying(let exchange) = self.mode else { return }
        if responseStarted {
            // The head is out: the only way to tell the client is to cut the response off.
            self.record(status: self.status)
            self.close(context: context)
        } else {
            self.respond(with: error, requestID: exchange.requestID, allowOrigin: exchange.allowOrigin, closeConnection: false, context: context)
        }
    }

    func exchangeWantsRequestBody() {
        guard let context else { return }
        self.readIfPending(context: context)
    }

    // MARK: Responses and connection state

    private var mustClose: Bool { !self.isKeepAlive || self.closesAfterResponse }

    /// Answers the current request with the error envelope.
    private func respond(with error: APIError, requestID: String, allowOrigin: String?, closeConnection: Bool, context: ChannelHandlerContext) {
        let close = closeConnection || self.mustClose
        let (head, body) = self.proxy.errorResponse(error, requestID: requestID, version: self.version, allowOrigin: allowOrigin, close: close)
        self.status = Int(head.status.code)
        self.record(status: self.status)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        self.endResponse(trailers: nil, closeConnection: closeConnection, context: context)
    }

    /// Writes the end of the response, then closes the connection, drains the rest of the request body, or takes the
    /// next request.
    private func endResponse(trailers: HTTPHeaders?, closeConnection: Bool, context: ChannelHandlerContext) {
        self.isResponseEnded = true
        if closeConnection || self.mustClose {
            self.mode = .closing
            self.queued.removeAll()
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.end(trailers)), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(trailers)), promise: nil)
        if self.isRequestEnded {
            self.completeRequest(context: context)
        } else {
            self.mode = .draining
            self.readIfPending(context: context)
        }
    }

    /// Both the request and its response are complete: take the next request.
    private func completeRequest(context: ChannelHandlerContext) {
        self.mode = .idle
        self.processQueued(context: context)
    }

    private func delegatedRequestDone(context: ChannelHandlerContext) {
        if self.closesAfterResponse {
            // The router's connection state handler closes after this response.
            self.mode = .closing
            return
        }
        self.mode = .idle
        self.processQueued(context: context)
    }

    /// Handles the parts that arrived while the previous request was answered, up to the end of the next request.
    private func processQueued(context: ChannelHandlerContext) {
        var forwarded = false
        defer {
            // The router's side delivers what it was given at the end of a read.
            if forwarded { context.fireChannelReadComplete() }
            self.readIfPending(context: context)
        }
        while let part = self.queued.first {
            switch self.mode {
            case .idle:
                break
            case .proxying, .draining, .delegated:
                guard !self.isRequestEnded else { return }
            case .closing:
                return
            }
            self.queued.removeFirst()
            self.handle(part, context: context)
            if case .delegated = self.mode { forwarded = true }
        }
    }

    private func close(context: ChannelHandlerContext) {
        self.mode = .closing
        self.queued.removeAll()
        context.close(promise: nil)
    }

    private func record(status: Int) {
        self.proxy.record(method: self.method, path: self.uri, routeLabel: self.routeLabel, status: status, start: self.start)
    }
}
