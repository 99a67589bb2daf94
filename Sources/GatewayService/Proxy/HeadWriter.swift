import NIOCore

/// Writes a message head into a `ByteBuffer` in one piece: the parts are copied one after the other into memory
/// reserved once, rather than one `ByteBuffer` write (with its uniqueness, capacity and exclusivity checks) per part.
struct HeadWriter {
    private let pointer: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    private init(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        self.pointer = pointer
        self.capacity = capacity
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(self.count + bytes.count <= self.capacity, "head larger than reserved")
        (self.pointer + self.count).copyMemory(from: base, byteCount: bytes.count)
        self.count += bytes.count
    }

    mutating func writeStatic(_ string: StaticString) {
        self.write(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    mutating func write(_ string: some StringProtocol) {
        let copied: Void? = string.utf8.withContiguousStorageIfAvailable { self.write(UnsafeRawBufferPointer($0)) }
        guard copied == nil else { return }
        for byte in string.utf8 {
            precondition(self.count < self.capacity, "head larger than reserved")
            self.pointer.storeBytes(of: byte, toByteOffset: self.count, as: UInt8.self)
            self.count += 1
        }
    }

    /// Appends what `body` writes to `buffer`, which reserves `capacity` bytes for it (writing more traps).
    static func append(to buffer: inout ByteBuffer, capacity: Int, _ body: (inout HeadWriter) -> Void) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
            var writer = HeadWriter(raw.baseAddress!, capacity: raw.count)
            body(&writer)
            return writer.count
        }
    }
}
