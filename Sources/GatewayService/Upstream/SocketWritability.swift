#if os(Linux)
import NIOCore
import SocketLoop

/// How the gateway writes to a SocketLoop socket (client or upstream), and the socket's writability as a SwiftNIO
/// channel would report it: unwritable above the high water mark of bytes waiting, writable again once they left.
struct SocketWritability {
    /// A channel's default high water mark.
    static let highWaterMark = 64 * 1024
    /// Writes up to this size go out at the end of the loop iteration, together (a head and a small body in one send);
    /// larger ones at once.
    static let coalescedWriteLimit = 16 * 1024

    private(set) var isUnwritable = false

    /// Writes `buffer`; true when the socket just became unwritable.
    mutating func write(_ buffer: ByteBuffer, to socket: LoopSocket) -> Bool {
        if buffer.readableBytes <= Self.coalescedWriteLimit {
            socket.writeCoalesced(buffer)
        } else {
            socket.write(buffer)
        }
        guard !self.isUnwritable, socket.pendingWriteBytes > Self.highWaterMark else { return false }
        self.isUnwritable = true
        return true
    }

    /// Everything written has left; true when the socket was unwritable until now.
    mutating func drained() -> Bool {
        defer { self.isUnwritable = false }
        return self.isUnwritable
    }
}
#endif
