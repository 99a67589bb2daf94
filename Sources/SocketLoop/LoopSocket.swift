#if os(Linux)
import Glibc
import NIOCore

/// What a ``LoopSocket`` reports, on its loop.
public protocol LoopSocketHandler: AnyObject {
    /// The connection is established (client sockets only; an accepted socket is connected from the start).
    func socketConnected(_ socket: LoopSocket)
    /// The connection could not be established (refused, unreachable, timed out); the socket is closed.
    func socketConnectFailed(_ socket: LoopSocket)
    /// Bytes arrived (only while reading is not paused). The buffer is valid during the call only.
    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer)
    /// Everything written has been taken by the kernel, after a write had to wait — for the kernel, or for the end of
    /// the loop iteration (coalesced writes) — so ``LoopSocket/pendingWriteBytes`` went from above zero to zero: the
    /// moment to produce more.
    func socketWritable(_ socket: LoopSocket)
    /// The connection closed (end of stream, an error, or ``LoopSocket/close()``); called once, after the fd is closed.
    func socketClosed(_ socket: LoopSocket)
    /// The peer shut its sending side (end of stream) on a socket that ``LoopSocket/allowsHalfClosure``: nothing more
    /// will be received, and the socket stays open for writing until closed.
    func socketInputClosed(_ socket: LoopSocket)
}

extension LoopSocketHandler {
    /// Nothing: handlers that never write more than the kernel takes at once need not care.
    public func socketWritable(_ socket: LoopSocket) {}

    /// Closes the socket: handlers that allow half-closure say what they do instead.
    public func socketInputClosed(_ socket: LoopSocket) { socket.close() }
}

/// A non-blocking TCP socket of a ``SocketEventLoop``: a client connection (``SocketEventLoop/connect(to:timeout:handler:)``)
/// or an accepted one (``LoopListener``). Used on its loop only.
///
/// Its stored properties of trivial types (flags, counters, times, reference-free state machines) are
/// `@exclusivity(unchecked)`: the hot path reads and sets them many times per request, and the run-time exclusivity
/// check is a call each time. It can be skipped for them because an overlapping access could not corrupt memory (they
/// hold no references) and nothing calls out while one of them is being modified in place (their types' mutating
/// methods are pure). Properties holding references keep the check.
public final class LoopSocket {
    public enum State: Sendable {
        case connecting
        case connected
        case closed
    }

    let fd: Int32
    let token: UInt64
    unowned let loop: SocketEventLoop
    @exclusivity(unchecked) var connectDeadline: UInt64
    /// Bytes not yet taken by the kernel (the send buffer was full).
    var pending: ByteBuffer?
    /// Whether `pending` holds coalesced bytes that go out at the end of the loop iteration (not yet offered to the
    /// kernel), rather than bytes the kernel refused.
    @exclusivity(unchecked) var awaitingFlush = false
    /// Whether the socket closes once its pending bytes are written (``closeAfterWriting()``).
    @exclusivity(unchecked) var closesWhenWritten = false
    /// Whether reading is paused (``pauseReading()``).
    @exclusivity(unchecked) var readingPaused = false
    /// Readiness that arrived while reading was paused (edge-triggered: the kernel reports it once), replayed on resume.
    @exclusivity(unchecked) var deferredReadEvents: UInt32 = 0
    @exclusivity(unchecked) public internal(set) var state = State.connecting
    /// Who is told what happens; settable, so that an accepted socket (or a pooled one) can change hands.
    public var handler: (any LoopSocketHandler)?
    /// Whether the end of the peer's stream is reported as ``LoopSocketHandler/socketInputClosed(_:)`` with the socket
    /// left open for writing (a server answering a client that shut its sending side after its request), rather than
    /// closing the socket.
    @exclusivity(unchecked) public var allowsHalfClosure = false
    /// Whether the peer's end of stream was read (with ``allowsHalfClosure``).
    @exclusivity(unchecked) public internal(set) var isInputClosed = false
    /// The peer's address, for accepted sockets (nil for client sockets: their caller chose it).
    public let remoteAddress: SocketAddress?

    init(
        fd: Int32,
        token: UInt64,
        loop: SocketEventLoop,
        handler: (any LoopSocketHandler)?,
        connectDeadline: UInt64,
        remoteAddress: SocketAddress?
    ) {
        self.fd = fd
        self.token = token
        self.loop = loop
        self.handler = handler
        self.connectDeadline = connectDeadline
        self.remoteAddress = remoteAddress
    }

    /// The loop this socket belongs to.
    public var eventLoop: SocketEventLoop { loop }

    /// Whether the connection is established and not closed.
    public var isActive: Bool { state == .connected }

    /// Bytes written but not yet taken by the kernel.
    public var pendingWriteBytes: Int { pending?.readableBytes ?? 0 }

    /// Writes `bytes` (what the kernel does not take now is written when the socket becomes writable, then
    /// ``LoopSocketHandler/socketWritable(_:)`` is reported). A write error closes the socket on the next loop
    /// iteration.
    public func write(_ bytes: ByteBuffer) {
        guard state == .connected, !closesWhenWritten else { return }
        if pending != nil {
            pending!.writeImmutableBuffer(bytes)
            return
        }
        var bytes = bytes
        if writeSome(&bytes) { return }
        pending = bytes
    }

    /// Writes `bytes` at the end of this loop iteration, in one `send` with the other bytes written to this socket
    /// until then — after the loop handled every event of the batch, as SwiftNIO's `flush` after `channelReadComplete`.
    /// A peer that gets several requests at once wakes once for all of them.
    public func writeCoalesced(_ bytes: ByteBuffer) {
        guard state == .connected, !closesWhenWritten else { return }
        if pending != nil {
            pending!.writeImmutableBuffer(bytes)
            return
        }
        pending = bytes
        awaitingFlush = true
        loop.flushAtEndOfIteration(self)
    }

    /// Writes as much of `bytes` as the kernel takes; true when all of it was written or the socket failed.
    func writeSome(_ bytes: inout ByteBuffer) -> Bool {
        while bytes.readableBytes > 0 {
            let written = bytes.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written >= 0 {
                bytes.moveReaderIndex(forwardBy: written)
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return false
            default:
                // Reported as a close, as a channel does; not from inside the caller's write.
                loop.closeLater(self)
                return true
            }
        }
        return true
    }

    /// Stops delivering received bytes (backpressure: the kernel's receive buffer fills and the peer's sends wait).
    /// The end of the stream is not noticed while paused either.
    public func pauseReading() {
        readingPaused = true
    }

    /// Delivers again, starting on the next loop iteration with what arrived while paused.
    public func resumeReading() {
        guard readingPaused else { return }
        readingPaused = false
        guard deferredReadEvents != 0 else { return }
        let events = deferredReadEvents
        deferredReadEvents = 0
        loop.later { [self] in
            guard state == .connected, !readingPaused else {
                deferredReadEvents |= events
                return
            }
            loop.read(self, events: events)
        }
    }

    /// Closes the socket once every byte written has gone out (at once when none is pending), then reports
    /// ``LoopSocketHandler/socketClosed(_:)``; nothing written after this call is sent.
    public func closeAfterWriting() {
        guard state == .connected else { return }
        if pending == nil {
            close()
        } else {
            closesWhenWritten = true
        }
    }

    /// Closes the socket and reports ``LoopSocketHandler/socketClosed(_:)`` (or nothing when it was never connected).
    public func close() {
        loop.close(self, notify: true)
    }

    /// Takes the file descriptor away from the loop: no more events, nothing reported, the descriptor left open and
    /// now the caller's to use and close (for example to hand the connection to a SwiftNIO channel with
    /// `ClientBootstrap.withConnectedSocket`). Nil when the socket is not connected or has bytes still to write.
    public func detach() -> Int32? {
        guard state == .connected, pending == nil else { return nil }
        return loop.detach(self)
    }

    func markClosed() {
        state = .closed
        pending = nil
        awaitingFlush = false
    }

    func markConnected() {
        state = .connected
    }
}
#endif
