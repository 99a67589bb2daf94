import HTTPWire
import NIOCore
import Testing

/// Deterministic randomized tests of the wire code on bytes: valid request streams (pipelined, with length, chunked and
/// no bodies) are read as generated, and those streams, mutated ones and random bytes read the same whether they arrive
/// in one piece or split at random points, without crashing.
@Suite struct HTTPWireFuzzTests {
    @Test func validRequestStreamsReadAsGeneratedHoweverSplit() throws {
        var random = SplitMix64(seed: 0x5EED_0001)
        for iteration in 0..<1500 {
            let stream = RequestStreamGenerator.stream(using: &random)
            let oneShot = WireReader.read([stream.bytes])
            #expect(oneShot.error == nil, "iteration \(iteration)")
            #expect(oneShot.leftover.isEmpty, "iteration \(iteration)")
            #expect(oneShot.messages.map(\.target) == stream.targets, "iteration \(iteration)")
            #expect(oneShot.messages.map(\.decodedBody) == stream.bodies, "iteration \(iteration)")
            #expect(oneShot.messages.allSatisfy { $0.isComplete }, "iteration \(iteration)")
            #expect(oneShot.messages.map(\.rawBytes).reduce([], +) == stream.bytesWithoutLeadingLines, "iteration \(iteration)")
            let split = WireReader.read(Self.split(stream.bytes, using: &random))
            #expect(split == oneShot, "iteration \(iteration): split reading differs")
        }
    }

    @Test func mutatedStreamsReadTheSameHoweverSplit() throws {
        var random = SplitMix64(seed: 0x5EED_0002)
        var errors = 0
        for iteration in 0..<3000 {
            var bytes = RequestStreamGenerator.stream(using: &random).bytes
            for _ in 0..<(1 + Int(random.next() % 4)) { Self.mutate(&bytes, using: &random) }
            let oneShot = WireReader.read([bytes])
            if oneShot.error != nil { errors += 1 }
            let split = WireReader.read(Self.split(bytes, using: &random))
            #expect(split == oneShot, "iteration \(iteration): split reading differs")
            if iteration % 10 == 0 {
                let byteByByte = WireReader.read(bytes.map { [$0] })
                #expect(byteByByte == oneShot, "iteration \(iteration): byte-by-byte reading differs")
            }
        }
        #expect(errors > 300, "the mutations reach the error paths (\(errors) of 3000)")
    }

    @Test func randomBytesAreRefusedOrWaitedOnTheSameHoweverSplit() throws {
        var random = SplitMix64(seed: 0x5EED_0003)
        let alphabet = Array("GET /HTP1.0\r\n: ;chunkedContent-Length0123456789abcdefTransfer-Encoding\t".utf8)
        for iteration in 0..<2000 {
            let count = Int(random.next() % 300)
            let bytes: [UInt8] = (0..<count).map { _ in
                random.next() % 3 == 0 ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
            }
            let oneShot = WireReader.read([bytes])
            let split = WireReader.read(Self.split(bytes, using: &random))
            #expect(split == oneShot, "iteration \(iteration): split reading differs")
        }
    }

    // MARK: Helpers

    /// `bytes` in 1 to 8 pieces cut at random points (empty pieces included).
    static func split(_ bytes: [UInt8], using random: inout SplitMix64) -> [[UInt8]] {
        let cuts = (0..<Int(random.next() % 8)).map { _ in Int(random.next() % UInt64(bytes.count + 1)) }.sorted()
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts {
            pieces.append(Array(bytes[start..<cut]))
            start = cut
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }

    static func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        let special = Array("\r\n: \t;0aF\u{7F}\u{0},-".utf8)
        func byte() -> UInt8 {
            random.next() % 2 == 0 ? special[Int(random.next() % UInt64(special.count))] : UInt8(truncatingIfNeeded: random.next())
        }
        guard !bytes.isEmpty else { return bytes.append(byte()) }
        let position = Int(random.next() % UInt64(bytes.count))
        switch random.next() % 5 {
        case 0: bytes[position] = byte()
        case 1: bytes.remove(at: position)
        case 2: bytes.insert(byte(), at: position)
        case 3:
            let end = min(bytes.count, position + 1 + Int(random.next() % 16))
            bytes.insert(contentsOf: bytes[position..<end], at: position)
        default: bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
        }
    }
}

/// What a byte stream read as a sequence of requests amounts to: comparable between ways of feeding it.
struct WireTranscript: Equatable {
    struct Message: Equatable {
        var method: String
        var target: String
        var versionMinor: Int
        var fields: [String]
        var contentLength: Int?
        var isChunked: Bool
        var isKeepAlive: Bool
        /// The head and the body as received.
        var rawBytes: [UInt8]
        /// How many of `rawBytes` are the body's.
        var bodyLength = 0
        var decodedBody: [UInt8]
        var isComplete: Bool
    }

    var messages: [Message] = []
    var error: HTTPWireError.Kind?
    /// Bytes not read when the stream ended (part of a head), or from the start of the body that failed.
    var leftover: [UInt8] = []

    /// After an error in a body, how much of the body had been taken before depends on how the bytes arrived (what
    /// was taken stays taken): the body's bytes count as not read, so that only what the stream amounts to is
    /// compared.
    mutating func normalize() {
        guard self.error != nil, let last = self.messages.indices.last, !self.messages[last].isComplete else { return }
        let headLength = self.messages[last].rawBytes.count - self.messages[last].bodyLength
        self.leftover = Array(self.messages[last].rawBytes[headLength...]) + self.leftover
        self.messages[last].rawBytes.removeLast(self.messages[last].bodyLength)
        self.messages[last].bodyLength = 0
        self.messages[last].decodedBody = []
    }
}

/// Reads requests from pieces of a stream as the gateway's connection handler does: heads with `MessageHead.parse`
/// (resuming its scan), then bodies with a `BodyFramer`, until the bytes run out or an error.
struct WireReader {
    private var transcript = WireTranscript()
    private var pending = ByteBuffer()
    private var scanned = 0
    private var framer: BodyFramer?

    static func read(_ pieces: [[UInt8]]) -> WireTranscript {
        var reader = WireReader()
        for piece in pieces { reader.feed(piece) }
        reader.transcript.leftover = Array(reader.pending.readableBytesView)
        reader.transcript.normalize()
        return reader.transcript
    }

    private mutating func feed(_ bytes: [UInt8]) {
        self.pending.writeBytes(bytes)
        while self.transcript.error == nil, self.pending.readableBytes > 0 {
            if var framer = self.framer {
                var decoded: [ByteBuffer] = []
                do {
                    if let raw = try framer.take(from: &self.pending, decode: true, decoded: &decoded) {
                        self.transcript.messages[self.transcript.messages.count - 1].rawBytes += raw.readableBytesView
                        self.transcript.messages[self.transcript.messages.count - 1].bodyLength += raw.readableBytes
                    }
                } catch {
                    self.transcript.error = error.kind
                    return
                }
                for part in decoded { self.transcript.messages[self.transcript.messages.count - 1].decodedBody += part.readableBytesView }
                if framer.isComplete {
                    self.transcript.messages[self.transcript.messages.count - 1].isComplete = true
                    self.framer = nil
                } else {
                    self.framer = framer
                }
            } else {
                let head: MessageHead
                do {
                    guard let parsed = try MessageHead.parse(from: &self.pending, isRequest: true, scanned: &self.scanned) else { return }
                    head = parsed
                } catch {
                    self.transcript.error = error.kind
                    return
                }
                let framer = BodyFramer(head.isChunked ? .chunked : head.contentLength.map { .length($0) } ?? .none)
                self.transcript.messages.append(
                    WireTranscript.Message(
                        method: head.method,
                        target: head.target,
                        versionMinor: head.versionMinor,
                        fields: head.allFields.map { "\($0.0): \($0.1)" },
                        contentLength: head.contentLength,
                        isChunked: head.isChunked,
                        isKeepAlive: head.isKeepAlive,
                        rawBytes: Array(head.bytes.readableBytesView),
                        decodedBody: [],
                        isComplete: framer.isComplete
                    )
                )
                self.framer = framer.isComplete ? nil : framer
            }
        }
    }
}

/// Valid request streams: one to four pipelined requests, some after empty lines, with random methods, targets,
/// fields, and bodies framed by length or chunked (with extensions and trailers) or none.
enum RequestStreamGenerator {
    struct Stream {
        var bytes: [UInt8] = []
        /// The stream without the empty lines put before requests (the reader skips them).
        var bytesWithoutLeadingLines: [UInt8] = []
        var targets: [String] = []
        var bodies: [[UInt8]] = []
    }

    static func stream(using random: inout SplitMix64) -> Stream {
        var stream = Stream()
        for _ in 0..<(1 + Int(random.next() % 4)) {
            if random.next() % 5 == 0 { stream.bytes += Array(String(repeating: "\r\n", count: 1 + Int(random.next() % 2)).utf8) }
            let request = self.request(using: &random)
            stream.bytes += request.bytes
            stream.bytesWithoutLeadingLines += request.bytes
            stream.targets.append(request.target)
            stream.bodies.append(request.body)
        }
        return stream
    }

    static func request(using random: inout SplitMix64) -> (bytes: [UInt8], target: String, body: [UInt8]) {
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        func text(_ alphabet: String, _ range: ClosedRange<Int>) -> String {
            let characters = Array(alphabet)
            let count = range.lowerBound + Int(random.next() % UInt64(range.count))
            return String((0..<count).map { _ in characters[Int(random.next() % UInt64(characters.count))] })
        }
        let method = pick(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "X-Custom_1"])
        let target = "/" + text("abcdefghijklmnopqrstuvwxyz0123456789/-._~?=&%", 0...40)
        let versionMinor = random.next() % 8 == 0 ? 0 : 1
        var head = "\(method) \(target) HTTP/1.\(versionMinor)\r\n"
        for _ in 0..<Int(random.next() % 8) {
            let name = text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~", 1...20)
            let value = text("abcdefghijklmnopqrstuvwxyz0123456789 \t,;=/\"()", 0...60)
            guard !["content-length", "transfer-encoding"].contains(name.lowercased()) else { continue }
            head += "\(name):\(pick(["", " ", "  ", "\t"]))\(value)\r\n"
        }
        if random.next() % 4 == 0 { head += "Connection: \(pick(["close", "keep-alive", "Keep-Alive, X-Hop", "upgrade"]))\r\n" }
        let body: [UInt8] = (0..<Int(random.next() % 5 == 0 ? random.next() % 3000 : random.next() % 40)).map { _ in
            UInt8(truncatingIfNeeded: random.next())
        }
        var bytes: [UInt8]
        switch random.next() % 3 {
        case 0 where body.isEmpty:
            bytes = Array((head + "\r\n").utf8)
        case 1 where versionMinor == 1:
            bytes = Array((head + "Transfer-Encoding: \(pick(["chunked", "Chunked", "CHUNKED"]))\r\n\r\n").utf8)
            var offset = 0
            while offset < body.count {
                let size = min(body.count - offset, 1 + Int(random.next() % 700))
                let hex = String(size, radix: 16, uppercase: random.next() % 2 == 0)
                let leadingZeros = String(repeating: "0", count: Int(random.next() % 3))
                bytes += Array("\(leadingZeros)\(hex)\(pick(["", ";a=b", " ;x", ";q=\"v w\""]))\r\n".utf8)
                bytes += body[offset..<(offset + size)]
                bytes += Array("\r\n".utf8)
                offset += size
            }
            bytes += Array("0\r\n\(pick(["", "Trailer-A: 1\r\n", "X: y\r\nZ: w\r\n"]))\r\n".utf8)
        default:
            bytes = Array((head + "Content-Length: \(body.count)\r\n\r\n").utf8) + body
        }
        return (bytes, target, body)
    }
}

/// A small seeded generator (SplitMix64): the same sequence on every run and platform.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
