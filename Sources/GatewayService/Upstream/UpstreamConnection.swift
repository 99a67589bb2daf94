import HTTPWire
import NIOCore
import NIOPosix

/// One keep-alive HTTP/1.1 connection to a replica, used by one exchange at a time and kept in its event loop's
/// ``ConnectionPool`` in between. Not thread-safe: used only on its channel's event loop.
final class UpstreamConnection {
    let channel: any Channel
    let endpoint: ReplicaEndpoint
    let handler: UpstreamConnectionHandler
    /// When it went back to the pool (for the idle timeout).
    var idleSince: NIODeadline = .now()
    /// Whether it is in the pool.
    var isIdle = false

    init(channel: any Channel, endpoint: ReplicaEndpoint, handler: UpstreamConnectionHandler) {
        self.channel = channel
        self.endpoint = endpoint
        self.handler = handler
    }

    var isActive: Bool { self.channel.isActive }
    var isWritable: Bool { self.channel.isWritable }
    var allocator: ByteBufferAllocator { self.channel.allocator }

    func write(_ buffer: ByteBuffer) { self.handler.write(buffer) }
    func flush() { self.handler.flush() }
    func pauseReading() { self.handler.pauseReading() }
    func resumeReading() { self.handler.resumeReading() }
    func close() { self.channel.close(promise: nil) }
}
