import BookstoreCore
import HTTPTypes
import HTTPWire
import NIOCore
import NIOHTTP1

#if os(Linux)
import SocketLoop
#endif

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
///
/// Its stored properties of trivial types (flags, counters, times, reference-free state machines) are
/// `@exclusivity(unchecked)`: the hot path reads and sets them many times per request, and the run-time exclusivity
/// check is a call each time. It can be skipped for them because an overlapping access could not corrupt memory (they
/// hold no references) and nothing calls out while one of them is being modified in place (their types' mutating
/// methods are pure). Properties holding references keep the check.
final class GatewayConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, ProxyExchangeDelegate {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// The client connection.
    private enum Client {
        /// A SwiftNIO channel, with this handler first in its pipeline and the router's HTTP handlers behind it.
        case channel(ChannelHandlerContext)
        #if os(Linux)
        /// A SocketLoop socket (``GatewayFastPath``): requests for the router are handed over to a SwiftNIO channel.
        case socket(LoopSocket)
        #endif
    }

    private let proxy: GatewayProxy
    /// Where the connection is in its current request (and what to do next); the handler carries it out.
    @exclusivity(unchecked) private var state = ConnectionStateMachine()
    /// The current request's exchange, while it is proxied.
    private var currentExchange: ProxyExchange?
    /// The client connection: a SwiftNIO channel (this handler in its pipeline) or a SocketLoop socket.
    private var client: Client?
    private var eventLoop: (any EventLoop)?
    private var pool: ConnectionPool?
    private var clientAddress = "unknown"
    @exclusivity(unchecked) private var requestIDs = RequestIDGenerator()
    @exclusivity(unchecked) private var seeds = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    /// Received bytes not handled yet (the rest of a head, or the next pipelined request).
    private var pending: ByteBuffer?
    @exclusivity(unchecked) private var scanned = 0
    @exclusivity(unchecked) private var isProcessing = false
    @exclusivity(unchecked) private var needsProcessing = false
    @exclusivity(unchecked) private var hasForwarded = false
    @exclusivity(unchecked) private var isReadPending = false
    private var idleTimer: Scheduled<Void>?
    /// When the connection last started waiting for a request head; nil while a request is handled.
    @exclusivity(unchecked) private var idleSince: NIODeadline?
    private var writeTimer: Scheduled<Void>?
    /// Since when the connection has been unwritable (the client takes no more of a response); nil while writable.
    @exclusivity(unchecked) private var unwritableSince: NIODeadline?
    private var drainTimer: Scheduled<Void>?
    /// When the current request was answered before the end of its body (draining began); nil otherwise.
    @exclusivity(unchecked) private var drainingSince: NIODeadline?

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
    @exclusivity(unchecked) private var framer = BodyFramer(.none)
    private var current = RequestRecord()
    @exclusivity(unchecked) private var forwardsChunked = false
    private var seriesCache = RequestSeriesCache()
    /// A proxied response's head, held back until its first body bytes (a small first part goes out in the same
    /// write) or the next flush.
    private var pendingResponseHead: ByteBuffer?
    /// The buffers of the last read from the client, of the last response head and of the last head planned for
    /// upstream, for the next ones.
    private var readBuffer = ReusableBuffer()
    private var headBuffer = ReusableBuffer()
    private var upstreamHeadBuffer = ReusableBuffer()
    /// Body parts up to this size are appended to a pending head rather than written on their own.
    private static let coalescedBodyLimit = 4096
    #if os(Linux)
    @exclusivity(unchecked) private var socketWritability = SocketWritability()
    /// The bytes of a request for the router, read here and waiting to be handed over with the connection.
    private var handOffBytes: ByteBuffer?
    #endif

    /// The exchange of the current request while it is proxied.
    private var exchange: ProxyExchange? { self.state.isProxying ? self.currentExchange : nil }

    init(proxy: GatewayProxy) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.start(.channel(context), eventLoop: context.eventLoop, clientAddress: context.channel.remoteAddress)
    }

    private func start(_ client: Client, eventLoop: any EventLoop, clientAddress: SocketAddress?) {
        self.client = client
        self.eventLoop = eventLoop
        self.pool = self.proxy.pools.pool(for: eventLoop)
        self.clientAddress = clientAddress?.ipAddress ?? "unknown"
        let now = NIODeadline.now()
        self.idleSince = now
        self.armIdleTimer(at: now + self.proxy.clientIdleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
    }

    /// Called once when the connection is gone or handed over (the fast path's registry of connections).
    var whenStopped: (() -> Void)?

    /// The connection is gone (or handed over): no timer fires for it any more.
    private func stop() {
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.writeTimer?.cancel()
        self.writeTimer = nil
        self.drainTimer?.cancel()
        self.drainTimer = nil
        self.client = nil
        let whenStopped = self.whenStopped
        self.whenStopped = nil
        whenStopped?()
    }

    /// Checks the idle deadline: one timer per connection and timeout period (not per request), moved on while the
    /// connection is busy or took a request since.
    private func armIdleTimer(at deadline: NIODeadline) {
        self.idleTimer = self.eventLoop?.assumeIsolated().scheduleTask(deadline: deadline) {
            self.idleTimer = nil
            guard self.client != nil else { return }
            let timeout = self.proxy.clientIdleTimeout
            guard self.state.state == .idle, let since = self.idleSince else {
                if self.state.state == .closing { return }
                return self.armIdleTimer(at: .now() + timeout)
            }
            if NIODeadline.now() - since >= timeout {
                self.close()
            } else {
                self.armIdleTimer(at: since + timeout)
            }
        }
    }

    /// Checks the write deadline: armed when the connection becomes unwritable, and moved on when it was writable in
    /// between (one timer per period of the timeout, not per change of writability).
    private func armWriteTimer(at deadline: NIODeadline) {
        self.writeTimer = self.eventLoop?.assumeIsolated().scheduleTask(deadline: deadline) {
            self.writeTimer = nil
            guard self.client != nil, let since = self.unwritableSince else { return }
            let timeout = self.proxy.clientWriteTimeout
            if NIODeadline.now() - since >= timeout {
                self.clientStoppedReading()
            } else {
                self.armWriteTimer(at: since + timeout)
            }
        }
    }

    /// The client took nothing of its response for the write timeout: the connection is closed, and so is the
    /// upstream connection the response came from (its response is unfinished: it cannot be pooled).
    private func clientStoppedReading() {
        if let exchange = self.exchange {
            exchange.cancel()
            self.record(status: 499)
        }
        self.close()
    }

    /// Checks the drain deadline of an early answer (one timer per period of the timeout, not per request).
    private func armDrainTimer(at deadline: NIODeadline) {
        self.drainTimer = self.eventLoop?.assumeIsolated().scheduleTask(deadline: deadline) {
            self.drainTimer = nil
            guard self.client != nil, self.state.state == .draining, let since = self.drainingSince else { return }
            let timeout = self.proxy.clientDrainTimeout
            if NIODeadline.now() - since >= timeout {
                self.close()
            } else {
                self.armDrainTimer(at: since + timeout)
            }
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received(self.unwrapInboundIn(data))
    }

    private func received(_ incoming: ByteBuffer) {
        var incoming = incoming
        if var pending = self.pending, pending.readableBytes > 0 {
            self.pending = nil
            pending.writeBuffer(&incoming)
            self.pending = pending
        } else {
            self.pending = incoming
        }
        self.process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The router's side only needs to hear of reads it was given (``process()`` tells it).
        if let pending = self.pending, pending.readableBytes == 0 { self.pending = nil }
        // The next read is asked for here unless the router has the current request: NIO's auto-read then finds a read
        // pending and does not send one from the pipeline's tail through the router's handlers, which only need to
        // see reads (to hold them back) while they have a request.
        if !self.state.isDelegated, self.shouldRead { context.read() }
    }

    /// Handles the pending bytes as far as the current state allows.
    private func process() {
        guard !self.isProcessing else {
            self.needsProcessing = true
            return
        }
        self.isProcessing = true
        repeat {
            self.needsProcessing = false
            self.processPending()
        } while self.needsProcessing
        self.isProcessing = false
        if self.hasForwarded {
            self.hasForwarded = false
            if case .channel(let context) = self.client { context.fireChannelReadComplete() }
        }
        self.readIfPending()
    }

    private func processPending() {
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
                    self.malformedRequest(error)
                    return
                }
                self.pending = buffer
                guard let head else { return }
                self.begin(head)
            case .takeBody(.proxy):
                guard let exchange = self.exchange, let body = self.takeBody(from: &buffer) else { return }
                if self.framer.dataBytes > self.proxy.planner.maxBodyBytes {
                    return self.bodyTooLarge(exchange)
                }
                if body.readableBytes > 0 { exchange.receiveRequestBodyPart(body) }
                if self.framer.isComplete { self.requestBodyEnded() }
            case .takeBody(.router):
                guard let body = self.takeBody(from: &buffer) else { return }
                if body.readableBytes > 0 { self.forward(body) }
                if self.framer.isComplete { self.requestBodyEnded() }
            case .takeBody(.gateway):
                guard self.takeBody(from: &buffer) != nil else { return }
                if self.framer.dataBytes > self.proxy.planner.maxBodyBytes { return self.close() }
                if self.framer.isComplete { self.requestBodyEnded() }
            }
        }
    }

    /// The current request's body bytes at the start of `buffer` (the rest stays pending); nil after a framing error.
    private func takeBody(from buffer: inout ByteBuffer) -> ByteBuffer? {
        self.pending = nil
        var unused: [ByteBuffer] = []
        do {
            let body = try self.framer.take(from: &buffer, decode: false, decoded: &unused)
            self.pending = buffer
            return body ?? ByteBuffer()
        } catch {
            self.exchange?.cancel()
            self.malformedRequest(error)
            return nil
        }
    }

    private func requestBodyEnded() {
        switch self.state.requestBodyEnded() {
        case .none:
            break
        case .endUpstreamRequest:
            self.currentExchange?.receiveRequestEnd()
        case .takeNextRequest:
            self.completeRequest()
        }
    }

    private func begin(_ head: MessageHead) {
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
            requestIDs: &self.requestIDs,
            headBuffer: &self.upstreamHeadBuffer
        )
        guard let plan else {
            #if os(Linux)
            if case .socket(let socket) = self.client { return self.handOff(socket, head: head) }
            #endif
            received(by: .router)
            self.forward(head.bytes)
            return
        }
        switch plan {
        case .reject(let error, let requestID, let routeLabel, let closeConnection):
            received(by: .gateway)
            self.current.routeLabel = routeLabel
            let allowOrigin = head.contains("origin") ? self.proxy.planner.allowOrigin : nil
            self.respond(with: error, requestID: requestID, allowOrigin: allowOrigin, closeConnection: closeConnection)
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
                self.writeAndFlush(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n"))
            }
            exchange.start(at: now)
        }
    }

    private func forward(_ buffer: ByteBuffer) {
        guard case .channel(let context) = self.client else { return }
        self.hasForwarded = true
        context.fireChannelRead(self.wrapInboundOut(buffer))
    }

    private func malformedRequest(_ error: any Error) {
        self.pending = nil
        let isHead = self.state.state == .idle
        switch self.state.requestMalformed(responseStarted: self.current.status != 0) {
        case .close:
            return self.close()
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
        self.respond(with: apiError, requestID: requestID, allowOrigin: nil, closeConnection: true)
    }

    private func bodyTooLarge(_ exchange: ProxyExchange) {
        let requestID = exchange.requestID
        exchange.cancel()
        switch self.state.requestBodyTooLarge(responseStarted: exchange.isResponseStarted || self.current.status != 0) {
        case .close:
            self.close()
        case .respondAndClose:
            let error = APIError.payloadTooLarge(limit: self.proxy.planner.maxBodyBytes)
            self.respond(with: error, requestID: requestID, allowOrigin: exchange.allowOrigin, closeConnection: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connectionClosed()
        context.fireChannelInactive()
    }

    private func connectionClosed() {
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
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    private func writabilityChanged(isWritable: Bool) {
        if isWritable {
            self.unwritableSince = nil
        } else if self.unwritableSince == nil {
            let now = NIODeadline.now()
            self.unwritableSince = now
            if self.writeTimer == nil { self.armWriteTimer(at: now + self.proxy.clientWriteTimeout) }
        }
        self.exchange?.downstreamWritabilityChanged(isWritable: isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let exchange = self.exchange
        self.perform(self.state.errorCaught(), exchange: exchange) { context.fireErrorCaught(error) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let exchange = self.exchange
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client half-closed: what it sent is all there is.
            self.perform(self.state.inputClosed(), exchange: exchange) { context.fireUserInboundEventTriggered(event) }
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        self.quiesce { context.fireUserInboundEventTriggered(event) }
    }

    /// A graceful shutdown began: an idle connection closes now, a busy one after its response.
    private func quiesce(forward: () -> Void = {}) {
        let hasPendingBytes = self.pendingBytes > 0
        self.perform(self.state.shouldQuiesce(hasPendingBytes: hasPendingBytes), exchange: self.exchange, forward: forward)
    }

    private func perform(
        _ action: ConnectionStateMachine.EventAction,
        exchange: ProxyExchange?,
        forward: () -> Void
    ) {
        switch action {
        case .none:
            break
        case .forwardToRouter:
            forward()
        case .close:
            self.close()
        case .cancelExchangeAndClose:
            exchange?.cancel()
            self.close()
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

    private func readIfPending() {
        if self.isReadPending && self.shouldRead {
            self.isReadPending = false
            switch self.client {
            case .channel(let context): context.read()
            #if os(Linux)
            case .socket(let socket): socket.resumeReading()
            #endif
            case nil: break
            }
        }
    }

    // MARK: The router's responses

    /// The router finished its response to the current (delegated) request.
    func routerResponseEnded() {
        guard self.client != nil else { return }
        switch self.state.routerResponseEnded() {
        case .none:
            break
        case .takeNextRequest:
            self.completeRequest()
        }
    }

    // MARK: ProxyExchangeDelegate

    func exchangeDidReceiveHead(_ head: MessageHead) {
        guard let exchange = self.exchange else { return }
        self.current.status = head.status
        let (forwardsChunked, connection) = self.state.upstreamResponseHeadReceived(
            hasBody: !exchange.isHeadRequest && head.status != 204 && head.status != 304,
            contentLength: head.contentLength,
            isChunked: head.isChunked
        )
        self.forwardsChunked = forwardsChunked
        var buffer = self.headBuffer.take(minimumCapacity: head.bytes.readableBytes + 128)
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
    private func writePendingHead() {
        guard let head = self.pendingResponseHead else { return }
        self.pendingResponseHead = nil
        self.writeResponseHead(head)
    }

    /// Writes a response head (with the first body bytes, if they joined it), keeping its buffer for the next one.
    private func writeResponseHead(_ head: ByteBuffer) {
        self.write(head)
        self.headBuffer.keep(head)
    }

    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer) {
        guard self.client != nil else { return }
        if buffer.readableBytes <= Self.coalescedBodyLimit, var head = self.pendingResponseHead {
            self.pendingResponseHead = nil  // not shared while it grows
            head.writeImmutableBuffer(buffer)
            return self.writeResponseHead(head)
        }
        self.writePendingHead()
        self.write(buffer)
    }

    func exchangeShouldFlush() {
        guard self.client != nil else { return }
        self.writePendingHead()
        self.flush()
    }

    func exchangeDidFinish() {
        guard self.client != nil else { return }
        self.writePendingHead()
        let now = self.currentExchange?.finishedAt ?? .now()
        self.record(status: self.current.status, now: now)
        self.endResponse(finalBytes: nil, closeConnection: false, now: now)
    }

    func exchangeDidFail(_ error: APIError, responseStarted: Bool) {
        guard self.client != nil, let exchange = self.exchange else { return }
        if responseStarted {
            // The head is out: the only way to tell the client is to cut the response off.
            self.writePendingHead()
            self.record(status: self.current.status)
            self.close()
        } else {
            self.respond(with: error, requestID: exchange.requestID, allowOrigin: exchange.allowOrigin, closeConnection: false)
        }
    }

    func exchangeWantsRequestBody() {
        guard self.client != nil else { return }
        self.readIfPending()
    }

    // MARK: Writing to the client

    private func write(_ buffer: ByteBuffer) {
        switch self.client {
        case .channel(let context): context.write(self.wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        #if os(Linux)
        case .socket(let socket):
            if self.socketWritability.write(buffer, to: socket) { self.writabilityChanged(isWritable: false) }
        #endif
        case nil: break
        }
    }

    private func flush() {
        if case .channel(let context) = self.client { context.flush() }
    }

    private func writeAndFlush(_ buffer: ByteBuffer) {
        self.write(buffer)
        self.flush()
    }

    /// Writes the last bytes the connection sends, then closes it.
    private func closeAfterWriting(_ buffer: ByteBuffer) {
        switch self.client {
        case .channel(let context):
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        #if os(Linux)
        case .socket(let socket):
            socket.writeCoalesced(buffer)
            socket.closeAfterWriting()
        #endif
        case nil: break
        }
    }

    // MARK: Responses and connection state

    /// Answers the current request with the error envelope.
    private func respond(with error: APIError, requestID: String, allowOrigin: String?, closeConnection: Bool) {
        let (close, connection) = self.state.responseClosing(closeConnection: closeConnection)
        let response = self.proxy.errorResponse(error, requestID: requestID, allowOrigin: allowOrigin, connection: connection)
        self.current.requestID = requestID
        self.current.status = Int(error.status.code)
        self.record(status: self.current.status)
        self.endResponse(finalBytes: response, closeConnection: close)
    }

    /// Writes the last bytes of a response, then closes the connection, drains the rest of the request body, or takes
    /// the next request.
    private func endResponse(finalBytes: ByteBuffer?, closeConnection: Bool, now: NIODeadline? = nil) {
        let action = self.state.responseEnded(closeConnection: closeConnection)
        if action == .closeAfterWrite {
            self.currentExchange = nil
            self.pending = nil
            self.closeAfterWriting(finalBytes ?? ByteBuffer())
            return
        }
        if let finalBytes {
            self.writeAndFlush(finalBytes)
        } else {
            self.flush()
        }
        if action == .takeNextRequest {
            self.completeRequest(now: now)
        } else {
            self.state.drainingStarted()
            self.currentExchange = nil
            let now = NIODeadline.now()
            self.drainingSince = now
            if self.drainTimer == nil { self.armDrainTimer(at: now + self.proxy.clientDrainTimeout) }
            self.process()
        }
    }

    /// Both the request and its response are complete: take the next request.
    private func completeRequest(now: NIODeadline? = nil) {
        self.state.requestCompleted()
        self.currentExchange = nil
        self.pendingResponseHead = nil
        self.drainingSince = nil
        self.scanned = 0
        self.idleSince = now ?? .now()
        self.process()
    }

    private func close() {
        self.state.closing()
        self.currentExchange = nil
        self.pendingResponseHead = nil
        self.pending = nil
        switch self.client {
        case .channel(let context): context.close(promise: nil)
        #if os(Linux)
        case .socket(let socket): socket.close()
        #endif
        case nil: break
        }
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

#if os(Linux)
// MARK: A SocketLoop client connection

extension GatewayConnectionHandler: LoopSocketHandler {
    /// Serves a connection accepted on a SocketLoop event loop (call on that loop).
    func adopt(_ socket: LoopSocket) {
        socket.allowsHalfClosure = true
        self.start(.socket(socket), eventLoop: socket.eventLoop, clientAddress: socket.remoteAddress)
    }

    /// A graceful shutdown began (see ``quiesce(forward:)``).
    func shutdownRequested() {
        guard self.client != nil else { return }
        self.quiesce()
    }

    /// Closes the connection now (the end of a shutdown's wait).
    func closeConnection() {
        guard self.client != nil else { return }
        self.exchange?.cancel()
        self.close()
    }

    func socketConnected(_ socket: LoopSocket) {}

    func socketConnectFailed(_ socket: LoopSocket) {}

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        var incoming = self.readBuffer.take(minimumCapacity: bytes.count)
        incoming.writeBytes(bytes)
        self.received(incoming)
        if let pending = self.pending, pending.readableBytes == 0 {
            self.pending = nil
            self.readBuffer.keep(pending)
        }
        // As a channel's read demand: reading stops while the current request cannot take more.
        if case .socket = self.client, !self.isReadPending, !self.shouldRead {
            self.isReadPending = true
            socket.pauseReading()
        }
    }

    func socketWritable(_ socket: LoopSocket) {
        if self.handOffBytes != nil { return self.handOffWhenWritten(socket) }
        if self.socketWritability.drained() { self.writabilityChanged(isWritable: true) }
    }

    func socketInputClosed(_ socket: LoopSocket) {
        self.perform(self.state.inputClosed(), exchange: self.exchange) {}
    }

    func socketClosed(_ socket: LoopSocket) {
        guard self.client != nil else { return }
        self.connectionClosed()
        self.stop()
    }

    /// A request for the router arrived: the connection goes to a SwiftNIO channel with the router's HTTP handlers
    /// (and a handler like this one in front of them), which gets the bytes read so far, head first, and serves the
    /// rest of the connection. The connection is idle here (the previous response was written and nothing is
    /// proxied), so only bytes still waiting to be sent delay it.
    private func handOff(_ socket: LoopSocket, head: MessageHead) {
        var bytes = head.bytes
        if var rest = self.pending, rest.readableBytes > 0 { bytes.writeBuffer(&rest) }
        self.pending = nil
        self.handOffBytes = bytes
        socket.pauseReading()
        // Coalesced writes go out at the end of this loop iteration: look again after it.
        self.eventLoop?.assumeIsolated().execute { self.handOffWhenWritten(socket) }
    }

    private func handOffWhenWritten(_ socket: LoopSocket) {
        guard let bytes = self.handOffBytes, case .socket = self.client else { return }
        guard socket.pendingWriteBytes == 0 else { return }  // the rest is reported by socketWritable
        self.handOffBytes = nil
        guard let handOff = self.proxy.routerHandOff, let fd = socket.detach() else {
            self.close()
            return
        }
        self.stop()
        handOff.adopt(fd: fd, bytes: bytes)
    }
}
#endif
