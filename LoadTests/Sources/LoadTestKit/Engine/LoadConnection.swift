import NIOCore
import SocketLoop

/// A request waiting for, or occupying, a connection.
struct PendingRequest {
    /// Intended send time (monotonic nanoseconds).
    var intended: UInt64
    var sequence: Int
    var requestIndex: Int
    /// Whether this is the second attempt, after the server closed a reused connection under the first one.
    var isRetry = false
}

/// One HTTP/1.1 connection of the load engine. It writes pre-encoded requests and parses responses in place, reporting
/// each completion to its ``LoadWorker``. Lives on the worker's event loop.
///
/// A response that ends the connection (`Connection: close`, HTTP/1.0 without keep-alive, a body read until close)
/// marks it ``isClosing``: the worker retires it at once and opens a new one if a request needs it.
final class LoadConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let worker: LoadWorker
    private var context: ChannelHandlerContext?
    private var parser = ResponseParser()
    /// Whether a request is in flight.
    private(set) var isBusy = false
    /// Whether the connection is closing (no more requests on it).
    private(set) var isClosing = false
    /// The request in flight.
    private(set) var current = PendingRequest(intended: 0, sequence: 0, requestIndex: 0)
    /// When the request in flight was written.
    private(set) var sentAt: UInt64 = 0
    /// Bytes received since the worker last collected them.
    var receivedBytes: UInt64 = 0
    /// The position in the worker's pool, or -1 once retired.
    var poolIndex = -1
    /// Whether a response has completed on this connection (it is being reused).
    private var hasCompletedResponse = false
    /// Whether the request in flight was flushed to the socket (it may have reached the server).
    private var isFlushed = false
    #if os(Linux)
    /// The socket, on a ``SocketEventLoop`` (nil on SwiftNIO channels).
    private(set) var socket: LoopSocket?
    /// A request written with `flush` false, on a socket.
    private var unflushed: ByteBuffer?
    #endif

    init(worker: LoadWorker) {
        self.worker = worker
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes a request; with `flush` false the bytes wait for ``flush()``.
    @inline(__always)
    func send(_ bytes: ByteBuffer, request: PendingRequest, isHeadRequest: Bool, now: UInt64, flush: Bool) {
        isBusy = true
        current = request
        sentAt = now
        parser.reset(isHeadRequest: isHeadRequest)
        isFlushed = flush
        #if os(Linux)
        if let socket {
            guard socket.isActive else {
                isFlushed = false
                abort(.reset)
                return
            }
            if flush {
                socket.write(bytes)
            } else {
                unflushed = bytes
            }
            return
        }
        #endif
        guard let context, context.channel.isActive else {
            // Closed under us: nothing was written.
            isFlushed = false
            abort(.reset)
            return
        }
        if flush {
            context.writeAndFlush(NIOAny(bytes), promise: nil)
        } else {
            context.write(NIOAny(bytes), promise: nil)
        }
    }

    /// Sends written bytes.
    func flush() {
        isFlushed = true
        #if os(Linux)
        if let socket {
            if let bytes = unflushed {
                unflushed = nil
                socket.write(bytes)
            }
            return
        }
        #endif
        context?.flush()
    }

    /// Whether a new request may be sent on this connection.
    var isUsable: Bool {
        guard !isClosing else { return false }
        #if os(Linux)
        if let socket { return socket.isActive }
        #endif
        guard let context else { return false }
        return context.channel.isActive
    }

    /// Whether the request in flight may be sent again on a new connection after this one closed under it: the
    /// connection was reused (a server may close an idle keep-alive connection just as the next request goes out),
    /// nothing of the response arrived, and the request is idempotent or never left this process.
    var mayResendCurrent: Bool {
        hasCompletedResponse && receivedBytes == 0 && parser.isIdle && (!isFlushed || worker.plan.requests[current.requestIndex].isIdempotent)
    }

    /// Ends the request in flight with an error and closes the connection.
    func abort(_ kind: RequestErrorKind) {
        let wasBusy = isBusy
        isBusy = false
        isClosing = true
        closeTransport()
        if wasBusy { worker.requestFailed(on: self, kind: kind) }
    }

    /// Closes the connection without reporting anything.
    func close() {
        isClosing = true
        closeTransport()
    }

    private func closeTransport() {
        #if os(Linux)
        if let socket {
            socket.close()
            return
        }
        #endif
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { received($0) }
    }

    /// Bytes of the response in flight arrived.
    @inline(__always)
    private func received(_ bytes: UnsafeRawBufferPointer) {
        receivedBytes &+= UInt64(bytes.count)
        guard isBusy else {
            // Bytes nobody asked for: the connection is out of step.
            close()
            return
        }
        switch parser.feed(bytes) {
        case .incomplete:
            return
        case .complete(let status, let keepAlive, let extraBytes):
            isBusy = false
            hasCompletedResponse = true
            if !keepAlive || extraBytes > 0 { isClosing = true }
            worker.requestCompleted(on: self, status: status)
            // Done with the connection: closed at once, without reading the server's end of stream.
            if isClosing { closeTransport() }
        case .invalid:
            abort(.protocolError)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        transportClosed()
    }

    /// The connection closed (by either side).
    private func transportClosed() {
        if isBusy {
            isBusy = false
            if parser.readsUntilClose, case .complete(let status, _, _) = parser.finishAtClose() {
                isClosing = true
                worker.requestCompleted(on: self, status: status)
            } else {
                isClosing = true
                worker.requestFailed(on: self, kind: .reset)
            }
        }
        isClosing = true
        worker.connectionClosed(self)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

#if os(Linux)
extension LoadConnection: LoopSocketHandler {
    /// Opens the connection on `loop`; the worker hears of it through ``LoadWorker/connected(_:)`` or
    /// ``LoadWorker/connectFailed(countsPending:)``.
    func open(on loop: SocketEventLoop, to address: SocketAddress, timeout: TimeAmount) {
        loop.connect(to: address, timeout: timeout, handler: self)
    }

    func socketConnected(_ socket: LoopSocket) {
        self.socket = socket
        worker.socketConnected(self)
    }

    func socketConnectFailed(_ socket: LoopSocket) {
        worker.socketConnectFailed()
    }

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        received(bytes)
    }

    func socketClosed(_ socket: LoopSocket) {
        unflushed = nil
        transportClosed()
    }
}
#endif
