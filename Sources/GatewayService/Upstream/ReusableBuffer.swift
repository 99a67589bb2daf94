import NIOCore

/// One buffer a connection reuses for the same kind of bytes, request after request (what it reads, the heads it
/// writes), instead of allocating one each time.
///
/// It is handed back once its bytes are used or handed on, and taken cleared for the next ones. When nothing else
/// holds its storage any more (the bytes were sent, the slices of a read were dropped) reuse costs no allocation;
/// while something still does, clearing it copies on write, which is what a new buffer costs. Storage larger than
/// ``keptCapacity`` (4 KiB: heads and small reads) is not kept, so an idle connection holds at most that much per
/// kind.
struct ReusableBuffer {
    static let keptCapacity = 4 * 1024

    private var spare: ByteBuffer?

    /// An empty buffer with room for at least `minimumCapacity` bytes.
    mutating func take(minimumCapacity: Int) -> ByteBuffer {
        guard var buffer = self.spare else { return ByteBufferAllocator().buffer(capacity: minimumCapacity) }
        self.spare = nil  // the buffer's storage must not be shared while it is cleared, or clearing copies it
        buffer.clear(minimumCapacity: minimumCapacity)
        return buffer
    }

    /// Hands `buffer` back for a later ``take(minimumCapacity:)``.
    mutating func keep(_ buffer: ByteBuffer) {
        self.spare = buffer.capacity <= Self.keptCapacity ? buffer : nil
    }
}
