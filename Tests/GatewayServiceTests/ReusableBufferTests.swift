import NIOCore
import Testing

@testable import GatewayService

/// A connection's reused buffer: no new storage when nothing else holds the old one, and never a change to bytes that
/// were handed on and are still held (a write waiting to be sent, a slice of a read).
struct ReusableBufferTests {
    private func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { $0.baseAddress.map { UnsafeRawPointer($0) } }
    }

    @Test func aBufferNobodyElseHoldsIsReusedInPlace() {
        var reusable = ReusableBuffer()
        var first = reusable.take(minimumCapacity: 100)
        first.writeString("GET / HTTP/1.1\r\n\r\n")
        let storage = self.address(first)
        reusable.keep(first)
        first = ByteBuffer()  // the only other holder lets go (the bytes were sent)
        var second = reusable.take(minimumCapacity: 50)
        #expect(second.readableBytes == 0, "taken cleared")
        // The same storage, with the old bytes still in it past the cleared indices: not freed and allocated again
        // (which could give the same address back, but not with its first bytes intact: the allocator writes there).
        #expect(self.address(second) == storage, "the same storage, no allocation")
        #expect(second.withVeryUnsafeBytes { String(decoding: $0.prefix(16), as: UTF8.self) } == "GET / HTTP/1.1\r\n")
        second.writeString("next")
        #expect(String(buffer: second) == "next")
    }

    @Test func bytesStillHeldElsewhereAreNeverOverwritten() {
        var reusable = ReusableBuffer()
        var written = reusable.take(minimumCapacity: 64)
        written.writeString("HTTP/1.1 200 OK\r\n\r\nfirst body")
        let sending = written  // what a socket still holds until it is sent
        reusable.keep(written)
        var next = reusable.take(minimumCapacity: 64)
        next.writeString("HTTP/1.1 404 Not Found\r\n\r\n")
        #expect(String(buffer: sending) == "HTTP/1.1 200 OK\r\n\r\nfirst body")
        #expect(String(buffer: next) == "HTTP/1.1 404 Not Found\r\n\r\n")
        #expect(self.address(next) != self.address(sending))
    }

    @Test func takenBuffersHaveTheRoomAskedFor() {
        var reusable = ReusableBuffer()
        var small = reusable.take(minimumCapacity: 16)
        small.writeString("x")
        reusable.keep(small)
        small = ByteBuffer()
        let large = reusable.take(minimumCapacity: 8 * 1024)
        #expect(large.readableBytes == 0 && large.capacity >= 8 * 1024)
    }

    @Test func storageOverTheLimitIsNotKept() {
        var reusable = ReusableBuffer()
        var big = reusable.take(minimumCapacity: ReusableBuffer.keptCapacity * 4)
        big.writeRepeatingByte(0x61, count: ReusableBuffer.keptCapacity * 4)
        reusable.keep(big)
        big = ByteBuffer()
        let next = reusable.take(minimumCapacity: 10)
        #expect(next.capacity < ReusableBuffer.keptCapacity * 4, "an idle connection does not hold a large buffer")
    }
}
