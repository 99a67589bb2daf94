import HTTPWire
import NIOCore
import NIOPosix

#if os(Linux)
import SocketLoop
#endif

/// One keep-alive HTTP/1.1 connection to a replica, used by one exchange at a time and kept in its event loop's
/// ``ConnectionPool`` in between. It writes requests as bytes and parses responses (strictly, see ``MessageHead``) into
/// a head and body bytes for its current delegate, whatever carries the bytes: a SwiftNIO channel (through
/// ``UpstreamConnectionHandler``) or, on a SocketLoop event loop, a `LoopSocket`. Not thread-safe: used only on its
/// event loop.
///
/// Its stored properties of trivial types (flags, counters, times, reference-free state machines) are
/// `@exclusivity(unchecked)`: the hot path reads and sets them many times per request, and the run-time exclusivity
/// check is a call each time. It can be skipped for them because an overlapping access could not corrupt memory (they
/// hold no references) and nothing calls out while one of them is being modified in place (their types' mutating
/// methods are pure). Properties holding references keep the check.
final class UpstreamConnection {
    enum Transport {
        case channel(any Channel, UpstreamConnectionHandler)
        #if os(Linux)
        case socket(LoopSocket)
        #endif
    }

    let transport: Transport
    let endpoint: ReplicaEndpoint
    /// When it went back to the pool (for the idle timeout).
    @exclusivity(unchecked) var idleSince: NIODeadline = .now()
    /// Whether it is in the pool.
    @exclusivity(unchecked) var isIdle = false

    /// The exchange using the connection (strong: the exchange clears it when done with the connection).
    var delegate: (any UpstreamConnectionDelegate)?
    /// Set before each request: whether its response has no body (HEAD), and whether chunked bodies are decoded.
    @exclusivity(unchecked) var expectsBodilessResponse = false
    @exclusivity(unchecked) var decodesBody = false
    /// Whether the last response said the connection stays open.
    @exclusivity(unchecked) private(set) var isReusable = true
    /// Why the connection is closing (a malformed response, a transport error), for the delegate.
    var lastError: (any Error)?

    private var buffer: ByteBuffer?
    /// The buffers of the last read and of the last request head, for the next ones.
    private var readBuffer = ReusableBuffer()
    private var headBuffer = ReusableBuffer()
    @exclusivity(unchecked) private var scanned = 0
    private var framer: BodyFramer?
    private var decoded: [ByteBuffer] = []
    #if os(Linux)
    @exclusivity(unchecked) private var socketWritability = SocketWritability()
    #endif

    init(transport: Transport, endpoint: ReplicaEndpoint) {
        self.transport = transport
        self.endpoint = endpoint
    }

    var isActive: Bool {
        switch self.transport {
        case .channel(let channel, _): channel.isActive
        #if os(Linux)
        case .socket(let socket): socket.isActive
        #endif
        }
    }

    var isWritable: Bool {
        switch self.transport {
        case .channel(let channel, _): channel.isWritable
        #if os(Linux)
        case .socket: !self.socketWritability.isUnwritable
        #endif
        }
    }

    func write(_ buffer: ByteBuffer) {
        switch self.transport {
        case .channel(_, let handler): handler.write(buffer)
        #if os(Linux)
        case .socket(let socket):
            if self.socketWritability.write(buffer, to: socket) { self.delegate?.upstreamWritabilityChanged(isWritable: false) }
        #endif
        }
    }

    /// An empty buffer for the next request head, with room for `capacity` bytes (see ``writeHead(_:)``).
    func takeHeadBuffer(capacity: Int) -> ByteBuffer {
        self.headBuffer.take(minimumCapacity: capacity)
    }

    /// Writes a request head taken from ``takeHeadBuffer(capacity:)``, and keeps the buffer for the next one.
    func writeHead(_ buffer: ByteBuffer) {
        self.write(buffer)
        self.headBuffer.keep(buffer)
    }

    /// Sends what was written (a socket sends at the end of the loop iteration anyway).
    func flush() {
        switch self.transport {
        case .channel(_, let handler): handler.flush()
        #if os(Linux)
        case .socket: break
        #endif
        }
    }

    func pauseReading() {
        switch self.transport {
        case .channel(_, let handler): handler.pauseReading()
        #if os(Linux)
        case .socket(let socket): socket.pauseReading()
        #endif
        }
    }

    func resumeReading() {
        switch self.transport {
        case .channel(_, let handler): handler.resumeReading()
        #if os(Linux)
        case .socket(let socket): socket.resumeReading()
        #endif
        }
    }

    func close() {
        switch self.transport {
        case .channel(let channel, _): channel.close(promise: nil)
        #if os(Linux)
        case .socket(let socket): socket.close()
        #endif
        }
    }

    // MARK: Responses

    /// Prepares for a new request on this connection.
    func reset() {
        self.framer = nil
        self.recycleBuffer()
        self.scanned = 0
        self.isReusable = true
    }

    /// Bytes from the replica; false when the connection must be closed (bytes while idle, a malformed response).
    func receive(_ incoming: ByteBuffer) -> Bool {
        // An idle connection must not receive anything; whatever it is, the connection cannot be trusted.
        guard self.delegate != nil else { return false }
        if var pending = self.buffer, pending.readableBytes > 0 {
            self.buffer = nil  // not shared while it grows
            var incoming = incoming
            pending.writeBuffer(&incoming)
            self.buffer = pending
        } else {
            self.buffer = incoming
        }
        do {
            try self.process()
            return true
        } catch {
            self.lastError = error
            return false
        }
    }

    private func process() throws {
        while var buffer = self.buffer, buffer.readableBytes > 0, let delegate = self.delegate {
            if var framer = self.framer {
                self.buffer = nil
                let body = try framer.take(from: &buffer, decode: self.decodesBody, decoded: &self.decoded)
                self.framer = framer
                self.buffer = buffer
                if self.decodesBody {
                    let chunks = self.decoded
                    self.decoded.removeAll(keepingCapacity: true)
                    for chunk in chunks { self.delegate?.upstreamReceivedBody(chunk) }
                } else if let body {
                    delegate.upstreamReceivedBody(body)
                }
                if framer.isComplete {
                    self.framer = nil
                    if buffer.readableBytes > 0 { self.isReusable = false }  // more than one response: not trustworthy
                    self.delegate?.upstreamReceivedEnd()
                }
                continue
            }
            self.buffer = nil
            guard let head = try MessageHead.parse(from: &buffer, isRequest: false, scanned: &self.scanned) else {
                self.buffer = buffer
                return
            }
            self.buffer = buffer
            if head.status < 200 {
                guard head.status != 101 else { throw HTTPWireError.malformed("unexpected protocol switch") }
                continue  // interim response (100 Continue, 103 Early Hints): not forwarded
            }
            let framing: BodyFramer.Framing
            if self.expectsBodilessResponse || head.status == 204 || head.status == 304 {
                framing = .none
            } else if head.isChunked {
                framing = .chunked
            } else if let length = head.contentLength {
                framing = .length(length)
            } else {
                framing = .untilClose
            }
            self.isReusable = head.isKeepAlive && framing != .untilClose
            let framer = BodyFramer(framing)
            delegate.upstreamReceivedHead(head)
            if framer.isComplete {
                if buffer.readableBytes > 0 { self.isReusable = false }
                self.delegate?.upstreamReceivedEnd()
            } else {
                self.framer = framer
            }
        }
    }

    /// The end of a batch of reads.
    func readComplete() {
        self.delegate?.upstreamReadComplete()
        if let buffer = self.buffer, buffer.readableBytes == 0 { self.recycleBuffer() }
    }

    /// Drops what is buffered, keeping the buffer for the next read.
    private func recycleBuffer() {
        guard let buffer = self.buffer else { return }
        self.buffer = nil
        self.readBuffer.keep(buffer)
    }

    /// The transport closed: a body delimited by the connection's end is complete; any other unfinished response is
    /// reported as a close.
    func transportClosed() {
        guard let delegate = self.delegate else { return }
        self.delegate = nil
        if var framer = self.framer, framer.connectionClosed() {
            self.framer = nil
            delegate.upstreamReceivedEnd()
        } else {
            delegate.upstreamClosed(error: self.lastError)
        }
    }

    /// The transport can take more bytes again.
    func transportWritabilityChanged(isWritable: Bool) {
        self.delegate?.upstreamWritabilityChanged(isWritable: isWritable)
    }
}

#if os(Linux)
extension UpstreamConnection: LoopSocketHandler {
    func socketConnected(_ socket: LoopSocket) {}

    func socketConnectFailed(_ socket: LoopSocket) {}

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        var incoming = self.readBuffer.take(minimumCapacity: bytes.count)
        incoming.writeBytes(bytes)
        if !self.receive(incoming) {
            socket.close()
            return
        }
        // One read per event: the batch ends here (a channel reports the end of its read loop the same way).
        self.readComplete()
    }

    func socketWritable(_ socket: LoopSocket) {
        if self.socketWritability.drained() { self.transportWritabilityChanged(isWritable: true) }
    }

    func socketClosed(_ socket: LoopSocket) {
        socket.handler = nil  // the socket no longer keeps its connection alive
        self.transportClosed()
    }
}

/// A connection to a replica could not be opened (refused, unreachable, or not within the connect timeout).
struct UpstreamConnectFailed: Error {}

/// Waits for a new socket's connection on a SocketLoop event loop, then hands the socket to its ``UpstreamConnection``.
final class UpstreamSocketConnector: LoopSocketHandler {
    private let endpoint: ReplicaEndpoint
    private let promise: EventLoopPromise<UpstreamConnection>

    init(endpoint: ReplicaEndpoint, promise: EventLoopPromise<UpstreamConnection>) {
        self.endpoint = endpoint
        self.promise = promise
    }

    func socketConnected(_ socket: LoopSocket) {
        let connection = UpstreamConnection(transport: .socket(socket), endpoint: self.endpoint)
        socket.handler = connection
        self.promise.assumeIsolated().succeed(connection)
    }

    func socketConnectFailed(_ socket: LoopSocket) {
        socket.handler = nil
        self.promise.fail(UpstreamConnectFailed())
    }

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {}

    func socketClosed(_ socket: LoopSocket) {
        socket.handler = nil
    }
}
#endif
