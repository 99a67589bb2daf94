import BookstoreCore
import HTTPTypes
import HTTPWire
import NIOCore
import NIOHTTP1

/// The gateway's fast path, one per client connection, first in the pipeline (it sees the connection's bytes).
///
/// Requests on proxied routes are parsed (strictly, see ``MessageHead``), planned and forwarded here, on the
/// connection's event loop, with connections from that loop's pool: no task switch, no thread hop, no per-field
/// allocation — field lines and bodies are copied through as bytes, chunked bodies stay chunked — and bodies stream
/// both ways with backpressure (reads are held back while the other side cannot take more). Every other request
/// (the gateway's own endpoints, CORS preflights, unknown paths) is passed on, as the same bytes, to NIO's HTTP codec
/// and the Hummingbird router behind this handler; ``RouterResponseObserver`` reports when the router's response
/// ended. Requests on one connection are answered in order: a pipelined request waits until the one before it is
/// answered. Where a connection is in its current request, and what each event leads to, is decided by a
/// ``ConnectionStateMachine`` value; this handler carries its actions out (parsing, forwarding, writing, timers).
///
/// On a graceful shutdown (`ChannelShouldQuiesceEvent`) an idle connection closes at once and a busy one after its
/// response, so in-flight requests complete. A connection that has not sent a complete request head within the idle
/// timeout of connecting or of its last response is closed (idle keep-alive connections, and heads sent too slowly);
/// so is one that stays unwritable for the write timeout (the client stopped reading its response: the exchange is
/// cancelled, which closes its upstream connection), and one that does not send the rest of a request body within
/// the drain timeout of an early answer.
final class GatewayConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, ProxyExchangeDelegate {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let proxy: GatewayProxy
    /// Where the connection is in its current request (and what to do next); the handler carries it out.
    private var state = ConnectionStateMachine()
    /// The current request's exchange, while it is proxied.
    private var currentExchange: ProxyExchange?
    private var context: ChannelHandlerContext?
    private var pool: ConnectionPool?
    private var clientAddress = "unknown"
    private var requestIDs = RequestIDGenerator()
    private var seeds = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    /// Received bytes not handled yet (the rest of a head, or the next pipelined request).
    private var pending: ByteBuffer?
    private var scanned = 0
    private var isProcessing = false
    private var needsProcessing = false
    private var hasForwarded = false
    private var isReadPending = false
    private var idleTimer: Scheduled<Void>?
    /// When the connection last started waiting for a request head; nil while a request is handled.
    private var idleSince: NIODeadline?
    private var writeTimer: Scheduled<Void>?
    /// Since when the connection has been unwritable (the client takes no more of a response); nil while writable.
    private var unwritableSince: NIODeadline?
    private var drainTimer: Scheduled<Void>?
    /// When the current request was answered before the end of its body (draining began); nil otherwise.
    private var drainingSince: NIODeadline?

    /// What the metrics and the access log record of the current request.
    private struct RequestRecord {
        var start = NIODeadline.now()
        var method = ""
        var target = ""
        var routeLabel = ""
        var requestID = ""
        /// The response's status once its head went out; 0 before.
        var status = 0
    }

    // The current request.
    private var framer = BodyFramer(.none)
    private var current = RequestRecord()
    private var forwardsChunked = false
    private var seriesCache = RequestSeriesCache()
    /// A proxied response's head, held back until its first body bytes (a small first part goes out in the same
    /// write) or the next flush.
    private var pendingResponseHead: ByteBuffer?
    /// Body parts up to this size are appended to a pending head rather than written on their own.
    private static let coalescedBodyLimit = 4096

    /// The exchange of the current request while it is proxied.
    private var exchange: ProxyExchange? { self.state.isProxying ? self.currentExchange : nil }

    init(proxy: GatewayProxy) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.pool = self.proxy.pools.pool(for: context.eventLoop)
        self.clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        let now = NIODeadline.now()
        self.idleSince = now
        self.armIdleTimer(context: context, at: now + self.proxy.clientIdleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.writeTimer?.cancel()
        self.writeTimer = nil
        self.drainTimer?.cancel()
        self.drainTimer = nil
        self.context = nil
    }

    /// Checks the idle deadline: one timer per connection and timeout period (not per request), moved on while the
    /// connection is busy or took a request since.
    private func armIdleTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.idleTimer = nil
            guard let context = self.context else { return }
            let timeout = self.proxy.clientIdleTimeout
            guard self.state.state == .idle, let since = self.idleSince else {
                if self.state.state == .closing { return }
                return self.armIdleTimer(context: context, at: .now() + timeout)
            }
            if NIODeadline.now() - since >= timeout {
                self.close(context: context)
            } else {
                self.armIdleTimer(context: context, at: since + timeout)
            }
        }
    }

    /// Checks the write deadline: armed when the connection becomes unwritable, and moved on when it was writable in
    /// between (one timer per period of the timeout, not per change of writability).
    private func armWriteTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.writeTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.writeTimer = nil
            guard let context = self.context, let since = self.unwritableSince else { return }
            let timeout = self.proxy.clientWriteTimeout
            if NIODeadline.now() - since >= timeout {
                self.clientStoppedReading(context: context)
            } else {
                self.armWriteTimer(context: context, at: since + timeout)
            }
        }
    }

    /// The client took nothing of its response for the write timeout: the connection is closed, and so is the
    /// upstream connection the response came from (its response is unfinished: it cannot be pooled).
    private func clientStoppedReading(context: ChannelHandlerContext) {
        if let exchange = self.exchange {
            exchange.cancel()
            self.record(status: 499)
        }
        self.close(context: context)
    }

    /// Checks the drain deadline of an early answer (one timer per period of the timeout, not per request).
    private func armDrainTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.drainTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.drainTimer = nil
            guard let context = self.context, self.state.state == .draining, let since = self.drainingSince else { return }
            let timeout = self.proxy.clientDrainTimeout
            if NIODeadline.now() - since >= timeout {
                self.close(context: context)
            } else {
                self.armDrainTimer(context: context, at: since + timeout)
            }
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if var pending = self.pending, pending.readableBytes > 0 {
            self.pending = nil
            pending.writeBuffer(&incoming)
            self.pending = pending
        } else {
            self.pending = incoming
        }
        self.process(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The router's side only needs to hear of reads it was given (``process(context:)`` tells it).
        if let pending = self.pending, pending.readableBytes == 0 { self.pending = nil }
        // The next read is asked for here unless the router has the current request: NIO's auto-read then finds a read
        // pending and does not send one from the pipeline's tail through the router's handlers, which only need to
        // see reads (to hold them back) while they have a request.
        if !self.state.isDelegated, self.shouldRead { context.read() }
    }

    /// Handles the pending bytes as far as the current state allows.
    private func process(context: ChannelHandlerContext) {
        guard !self.isProcessing else {
            self.needsProcessing = true
            return
        }
        self.isProcessing = true
        repeat {
            self.needsProcessing = false
            self.processPending(context: context)
        } while self.needsProcessing
        self.isProcessing = false
        if self.hasForwarded {
            self.hasForwarded = false
            context.fireChannelReadComplete()
        }
        self.readIfPending(context: context)
    }

    private func processPending(context: ChannelHandlerContext) {
        while var buffer = self.pending, buffer.readableBytes > 0 {
            switch self.state.inputAction {
            case .discard:
                self.pending = nil
                return
            case .wait:
                return  // the next request waits for this response
            case .parseHead:
                self.pending = nil
                let head: MessageHead?
                do {
                    head = try MessageHead.parse(from: &buffer, isRequest: true, scanned: &self.scanned)
                } catch {
                    self.malformedRequest(error, context: context)
                    return
                }
                self.pending = buffer
                guard let head else { return }
                self.begin(head, context: context)
            case .takeBody(.proxy):
                guard let exchange = self.exchange, let body = self.takeBody(from: &buffer, context: context) else { return }
                if self.framer.dataBytes > self.proxy.planner.maxBodyBytes {
                    return self.bodyTooLarge(exchange, context: context)
                }
                if body.readableBytes > 0 { exchange.receiveRequestBodyPart(body) }
                if self.framer.isComplete { self.requestBodyEnded(context: context) }
            case .takeBody(.router):
                guard let body = self.takeBody(from: &buffer, context: context) else { return }
                if body.readableBytes > 0 { self.forward(body, context: context) }
                if self.framer.isComplete { self.requestBodyEnded(context: context) }
            case .takeBody(.gateway):
                guard self.takeBody(from: &buffer, context: context) != nil else { return }
                if self.framer.dataBytes > self.proxy.planner.maxBodyBytes { return self.close(context: context) }
                if self.framer.isComplete { self.requestBodyEnded(context: context) }
            }
        }
    }

    /// The current request's body bytes at the start of `buffer` (the rest stays pending); nil after a framing error.
    private func takeBody(from buffer: inout ByteBuffer, context: ChannelHandlerContext) -> ByteBuffer? {
        self.pending = nil
        var unused: [ByteBuffer] = []
        do {
            let body = try self.framer.take(from: &buffer, decode: false, decoded: &unused)
            self.pending = buffer
            return body ?? ByteBuffer()
        } catch {
            self.exchange?.cancel()
            self.malformedRequest(error, context: context)
            return nil
        }
    }

    private func requestBodyEnded(context: ChannelHandlerContext) {
        switch self.state.requestBodyEnded() {
        case .none:
            break
        case .endUpstreamRequest:
            self.currentExchange?.receiveRequestEnd()
        case .takeNextRequest:
            self.completeRequest(context: context)
        }
    }

    private func begin(_ head: MessageHead, context: ChannelHandlerContext) {
        self.idleSince = nil
        let now = NIODeadline.now()
        self.current.start = now
        self.current.method = head.method
        self.current.target = head.target
        self.current.routeLabel = "unmatched"
        self.current.status = 0
        if head.isChunked {
            self.framer = BodyFramer(.chunked)
        } else {
            self.framer = BodyFramer(head.contentLength.map { .length($0) } ?? .none)
        }
        func received(by responder: ConnectionStateMachine.Responder) {
            self.state.requestHeadReceived(
                isKeepAlive: head.isKeepAlive,
                versionMinor: head.versionMinor,
                isBodyComplete: self.framer.isComplete,
                responder: responder
            )
        }
        // Through `self.proxy` (not a local copy of the planner, which would retain each of its references).
        let plan = self.proxy.planner.planIfProxied(
            head,
            method: self.current.method,
            target: self.current.target,
            clientAddress: self.clientAddress,
            requestIDs: &self.requestIDs
        )
        guard let plan else {
            received(by: .router)
            self.forward(head.bytes, context: context)
            return
        }
        switch plan {
        case .reject(let error, let requestID, let routeLabel, let closeConnection):
            received(by: .gateway)
            self.current.routeLabel = routeLabel
            let allowOrigin = head.contains("origin") ? self.proxy.planner.allowOrigin : nil
            self.respond(with: error, requestID: requestID, allowOrigin: allowOrigin, closeConnection: closeConnection, context: context)
        case .forward(let request, let routeLabel, let expectsContinue):
            self.current.routeLabel = routeLabel
            self.current.requestID = request.requestID
            guard let pool = self.pool else { return }
            let exchange = ProxyExchange(
                request: request,
                pool: pool,
                settings: self.proxy.settings,
                delegate: self,
                seed: self.seeds.next(),
                decodesResponse: head.versionMinor == 0
            )
            self.currentExchange = exchange
            received(by: .proxy)
            if expectsContinue {
                context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"))), promise: nil)
            }
            exchange.start(at: now)
        }
    }

    private func forward(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        self.hasForwarded = true
        context.fireChannelRead(self.wrapInboundOut(buffer))
    }

    private func malformedRequest(_ error: any Error, context: ChannelHandlerContext) {
        self.pending = nil
        let isHead = self.state.state == .idle
        switch self.state.requestMalformed(responseStarted: self.current.status != 0) {
        case .close:
            return self.close(context: context)
        case .respondAndClose:
            break
        }
        if isHead {
            // A head that cannot be parsed: nothing is known of the request.
            self.current.start = .now()
            self.current.method = "UNKNOWN"
            self.current.target = ""
            self.current.routeLabel = "unmatched"
            self.current.status = 0
        }
        let apiError: APIError
        switch (error as? HTTPWireError)?.kind {
        case .headTooLarge?: apiError = APIError(status: .requestHeaderFieldsTooLarge, message: "Request head too large")
        case .unsupportedTransferCoding?: apiError = APIError(status: .notImplemented, message: "Unsupported Transfer-Encoding")
        default: apiError = .badRequest("Malformed HTTP request")
        }
        let requestID = self.current.requestID.isEmpty || self.current.routeLabel == "unmatched" ? self.requestIDs.next() : self.current.requestID
        self.respond(with: apiError, requestID: requestID, allowOrigin: nil, closeConnection: true, context: context)
    }

    private func bodyTooLarge(_ exchange: ProxyExchange, context: ChannelHandlerContext) {
        let requestID = exchange.requestID
        exchange.cancel()
        switch self.state.requestBodyTooLarge(responseStarted: exchange.isResponseStarted || self.current.status != 0) {
        case .close:
            self.close(context: context)
        case .respondAndClose:
            let error = APIError.payloadTooLarge(limit: self.proxy.planner.maxBodyBytes)
            self.respond(with: error, requestID: requestID, allowOrigin: exchange.allowOrigin, closeConnection: true, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let exchange = self.exchange
        switch self.state.channelInactive() {
        case .none:
            break
        case .cancelExchange(let recordClientClosed):
            exchange?.cancel()
            if recordClientClosed { self.record(status: 499) }
        }
        self.currentExchange = nil
        self.pending = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        if isWritable {
            self.unwritableSince = nil
        } else if self.unwritableSince == nil {
            let now = NIODeadline.now()
            self.unwritableSince = now
            if self.writeTimer == nil { self.armWriteTimer(context: context, at: now + self.proxy.clientWriteTimeout) }
        }
        self.exchange?.downstreamWritabilityChanged(isWritable: isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let exchange = self.exchange
        self.perform(self.state.errorCaught(), exchange: exchange, context: context) { context.fireErrorCaught(error) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let exchange = self.exchange
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client half-closed: what it sent is all there is.
            self.perform(self.state.inputClosed(), exchange: exchange, context: context) { context.fireUserInboundEventTriggered(event) }
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        let hasPendingBytes = self.pendingBytes > 0
        self.perform(self.state.shouldQuiesce(hasPendingBytes: hasPendingBytes), exchange: exchange, context: context) {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func perform(
        _ action: ConnectionStateMachine.EventAction,
        exchange: ProxyExchange?,
        context: ChannelHandlerContext,
        forward: () -> Void
    ) {
        switch action {
        case .none:
            break
        case .forwardToRouter:
            forward()
        case .close:
            self.close(context: context)
        case .cancelExchangeAndClose:
            exchange?.cancel()
            self.close(context: context)
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only the router's responses (encoded by NIO's HTTP encoder) pass through here.
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if self.shouldRead {
            context.read()
        } else {
            self.isReadPending = true
        }
    }

    /// Whether to read from the client now (see ``ConnectionStateMachine/readDecision(pendingBytes:)``).
    private var shouldRead: Bool {
        switch self.state.readDecision(pendingBytes: self.pendingBytes) {
        case .read: true
        case .hold: false
        case .ifExchangeWantsBody: self.exchange?.wantsRequestBody ?? false
        }
    }

    private var pendingBytes: Int { self.pending?.readableBytes ?? 0 }

    private func readIfPending(context: ChannelHandlerContext) {
        if self.isReadPending && self.shouldRead {
            self.isReadPending = false
            context.read()
        }
    }

    // MARK: The router's responses

    /// The router finished its response to the current (delegated) request.
    func routerResponseEnded() {
        guard let context else { return }
        switch self.state.routerResponseEnded() {
        case .none:
            break
        case .takeNextRequest:
            self.completeRequest(context: context)
        }
    }

    // MARK: ProxyExchangeDelegate

    func exchangeDidReceiveHead(_ head: MessageHead) {
        guard let context, let exchange = self.exchange else { return }
        self.current.status = head.status
        let (forwardsChunked, connection) = self.state.upstreamResponseHeadReceived(
            hasBody: !exchange.isHeadRequest && head.status != 204 && head.status != 304,
            contentLength: head.contentLength,
            isChunked: head.isChunked
        )
        self.forwardsChunked = forwardsChunked
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 128)
        ResponseHead.write(
            head,
            into: &buffer,
            requestID: exchange.requestID,
            allowOrigin: exchange.allowOrigin,
            keepsTransferEncoding: self.forwardsChunked,
            connection: connection
        )
        self.pendingResponseHead = buffer
    }

    /// Writes the response head held back, if any.
    private func writePendingHead(context: ChannelHandlerContext) {
        guard let head = self.pendingResponseHead else { return }
        self.pendingResponseHead = nil
        context.write(self.wrapOutboundOut(.byteBuffer(head)), promise: nil)
    }

    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer) {
        guard let context else { return }
        if var head = self.pendingResponseHead {
            self.pendingResponseHead = nil
            if buffer.readableBytes <= Self.coalescedBodyLimit {
                head.writeImmutableBuffer(buffer)
                context.write(self.wrapOutboundOut(.byteBuffer(head)), promise: nil)
                return
            }
            context.write(self.wrapOutboundOut(.byteBuffer(head)), promise: nil)
        }
        context.write(self.wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
    }

    func exchangeShouldFlush() {
        guard let context else { return }
        self.writePendingHead(context: context)
        context.flush()
    }

    func exchangeDidFinish() {
        guard let context else { return }
        self.writePendingHead(context: context)
        let now = self.currentExchange?.finishedAt ?? .now()
        self.record(status: self.current.status, now: now)
        self.endResponse(finalBytes: nil, closeConnection: false, now: now, context: context)
    }

    func exchangeDidFail(_ error: APIError, responseStarted: Bool) {
        guard let context, let exchange = self.exchange else { return }
        if responseStarted {
            // The head is out: the only way to tell the client is to cut the response off.
            self.writePendingHead(context: context)
            self.record(status: self.current.status)
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

    /// Answers the current request with the error envelope.
    private func respond(with error: APIError, requestID: String, allowOrigin: String?, closeConnection: Bool, context: ChannelHandlerContext) {
        let (close, connection) = self.state.responseClosing(closeConnection: closeConnection)
        let response = self.proxy.errorResponse(error, requestID: requestID, allowOrigin: allowOrigin, connection: connection)
        self.current.requestID = requestID
        self.current.status = Int(error.status.code)
        self.record(status: self.current.status)
        self.endResponse(finalBytes: response, closeConnection: close, context: context)
    }

    /// Writes the last bytes of a response, then closes the connection, drains the rest of the request body, or takes
    /// the next request.
    private func endResponse(finalBytes: ByteBuffer?, closeConnection: Bool, now: NIODeadline? = nil, context: ChannelHandlerContext) {
        let action = self.state.responseEnded(closeConnection: closeConnection)
        if action == .closeAfterWrite {
            self.currentExchange = nil
            self.pending = nil
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(finalBytes ?? ByteBuffer())), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        if let finalBytes {
            context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(finalBytes)), promise: nil)
        } else {
            context.flush()
        }
        if action == .takeNextRequest {
            self.completeRequest(now: now, context: context)
        } else {
            self.state.drainingStarted()
            self.currentExchange = nil
            let now = NIODeadline.now()
            self.drainingSince = now
            if self.drainTimer == nil { self.armDrainTimer(context: context, at: now + self.proxy.clientDrainTimeout) }
            self.process(context: context)
        }
    }

    /// Both the request and its response are complete: take the next request.
    private func completeRequest(now: NIODeadline? = nil, context: ChannelHandlerContext) {
        self.state.requestCompleted()
        self.currentExchange = nil
        self.pendingResponseHead = nil
        self.drainingSince = nil
        self.scanned = 0
        self.idleSince = now ?? .now()
        self.process(context: context)
    }

    private func close(context: ChannelHandlerContext) {
        self.state.closing()
        self.currentExchange = nil
        self.pendingResponseHead = nil
        self.pending = nil
        context.close(promise: nil)
    }

    private func record(status: Int, now: NIODeadline? = nil) {
        self.proxy.record(
            method: self.current.method,
            path: self.current.target,
            routeLabel: self.current.routeLabel,
            status: status,
            duration: (now ?? .now()) - self.current.start,
            requestID: self.current.requestID,
            cache: &self.seriesCache
        )
    }
}
