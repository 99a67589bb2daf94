#if os(Linux)
import Glibc
import NIOCore

/// What a ``LoopListener`` reports, on its loop.
public protocol LoopListenerHandler: AnyObject {
    /// A connection was accepted: return who handles it, or nil to close it at once. Its bytes are delivered from the
    /// next loop iteration on.
    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)?
}

/// A listening TCP socket of a ``SocketEventLoop`` (``SocketEventLoop/listen(on:backlog:reusePort:handler:)``),
/// accepting with `accept4` as connections arrive. Used on its loop only.
public final class LoopListener {
    let fd: Int32
    let token: UInt64
    unowned let loop: SocketEventLoop
    let handler: any LoopListenerHandler
    /// The address it listens on (with the port the kernel chose when asked for port 0).
    public let localAddress: SocketAddress
    public internal(set) var isOpen = true
    /// Set while accepting is suspended because the process ran out of descriptors (retried on a timer).
    var acceptRetryScheduled = false

    init(fd: Int32, token: UInt64, loop: SocketEventLoop, handler: any LoopListenerHandler, localAddress: SocketAddress) {
        self.fd = fd
        self.token = token
        self.loop = loop
        self.handler = handler
        self.localAddress = localAddress
    }

    /// Stops listening (connections already accepted are not affected).
    public func close() {
        loop.close(self)
    }
}

/// A failed system call of the socket loop.
public struct SocketLoopError: Error, Sendable, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}
#endif
