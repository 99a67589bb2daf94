import HTTPWire
import NIOCore
import Testing

/// Where bodies end (length, chunked, until close) and how chunked bodies are decoded, fed in one piece or split.
@Suite struct BodyFramerTests {
    @Test func lengthBodiesEndAtTheirLength() throws {
        var framer = BodyFramer(.length(5))
        var decoded: [ByteBuffer] = []
        var first = ByteBuffer(string: "hel")
        #expect(String(buffer: try #require(try framer.take(from: &first, decode: false, decoded: &decoded))) == "hel")
        #expect(!framer.isComplete)
        var rest = ByteBuffer(string: "loGET /")
        #expect(String(buffer: try #require(try framer.take(from: &rest, decode: false, decoded: &decoded))) == "lo")
        #expect(framer.isComplete && String(buffer: rest) == "GET /" && framer.dataBytes == 5)
        #expect(decoded.isEmpty, "nothing is decoded unless asked")
    }

    @Test func emptyBodiesAreCompleteAtOnce() throws {
        for framing in [BodyFramer.Framing.none, .length(0)] {
            var framer = BodyFramer(framing)
            var decoded: [ByteBuffer] = []
            var next = ByteBuffer(string: "GET / HTTP/1.1\r\n")
            #expect(framer.isComplete)
            #expect(try framer.take(from: &next, decode: true, decoded: &decoded) == nil)
            #expect(next.readableBytes == 16 && decoded.isEmpty)
        }
    }

    @Test func untilCloseBodiesTakeEverythingUntilTheConnectionCloses() throws {
        var framer = BodyFramer(.untilClose)
        var decoded: [ByteBuffer] = []
        var buffer = ByteBuffer(string: "all of it")
        #expect(String(buffer: try #require(try framer.take(from: &buffer, decode: true, decoded: &decoded))) == "all of it")
        #expect(!framer.isComplete && buffer.readableBytes == 0 && decoded.count == 1)
        #expect(framer.connectionClosed() && framer.isComplete)
        var length = BodyFramer(.length(3))
        let isLengthComplete = length.connectionClosed()
        #expect(!isLengthComplete, "a length body cut off by the close is incomplete")
    }

    struct ChunkedCase: Sendable, CustomTestStringConvertible {
        let body: String
        let decoded: String
        var testDescription: String { self.body.debugDescription }
    }

    @Test(arguments: [
        ChunkedCase(body: "0\r\n\r\n", decoded: ""),
        ChunkedCase(body: "3\r\nabc\r\n0\r\n\r\n", decoded: "abc"),
        ChunkedCase(body: "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", decoded: "01234567890123456789"),
        ChunkedCase(body: "000003\r\nabc\r\n0000\r\n\r\n", decoded: "abc"),
        ChunkedCase(body: "3 ; ext=\"v\"\r\nabc\r\n0;last\r\n\r\n", decoded: "abc"),
        ChunkedCase(body: "1\r\n\r\r\n0\r\nA: b\r\nC: d\r\n\r\n", decoded: "\r"),
    ])
    func chunkedBodiesEndAfterTheirTrailers(_ testCase: ChunkedCase) throws {
        var framer = BodyFramer(.chunked)
        var decoded: [ByteBuffer] = []
        var buffer = ByteBuffer(string: testCase.body + "NEXT")
        let raw = try #require(try framer.take(from: &buffer, decode: true, decoded: &decoded))
        #expect(String(buffer: raw) == testCase.body)
        #expect(decoded.map { String(buffer: $0) }.joined() == testCase.decoded)
        #expect(framer.isComplete && framer.dataBytes == testCase.decoded.utf8.count)
        #expect(String(buffer: buffer) == "NEXT", "what follows the body stays")
    }

    @Test func chunkedBodiesAreFramedAndDecodedAcrossAnySplit() throws {
        let body = "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
        let next = "GET / HTTP/1.1\r\n"
        for split in 1...8 {
            var framer = BodyFramer(.chunked)
            var decoded: [ByteBuffer] = []
            var raw = ByteBuffer()
            let bytes = Array((body + next).utf8)
            var offset = 0
            var leftover = ByteBuffer()
            while offset < bytes.count {
                var piece = ByteBuffer(bytes: bytes[offset..<min(offset + split, bytes.count)])
                offset += split
                if framer.isComplete {
                    leftover.writeBuffer(&piece)
                    continue
                }
                if var taken = try framer.take(from: &piece, decode: true, decoded: &decoded) { raw.writeBuffer(&taken) }
                leftover.writeBuffer(&piece)
            }
            #expect(framer.isComplete, "split \(split)")
            #expect(String(buffer: raw) == body, "the raw bytes are the chunked body exactly")
            #expect(decoded.map { String(buffer: $0) }.joined() == "hello0123456789")
            #expect(framer.dataBytes == 15)
            #expect(String(buffer: leftover) == next)
        }
    }

    @Test(arguments: [
        "x\r\n", "5\r\nhelloXX", "5\nhello\r\n", "1234567890123456\r\n", "\r\n", "5\r\nhello\rX", "3;\u{1}\r\n", "0\r\nA: b\rX",
        "-1\r\n",
    ])
    func rejectsMalformedChunks(_ text: String) {
        var framer = BodyFramer(.chunked)
        var decoded: [ByteBuffer] = []
        var buffer = ByteBuffer(string: text)
        #expect(throws: HTTPWireError.self) { _ = try framer.take(from: &buffer, decode: false, decoded: &decoded) }
    }

    @Test func rejectsOverlongChunkExtensionsAndTrailers() {
        let extensions = "1;" + String(repeating: "e", count: 5000) + "\r\n"
        let trailers = "0\r\n" + String(repeating: "T: v\r\n", count: 5000) + "\r\n"
        for text in [extensions, trailers] {
            var framer = BodyFramer(.chunked)
            var decoded: [ByteBuffer] = []
            var buffer = ByteBuffer(string: text)
            #expect(throws: HTTPWireError.self) { _ = try framer.take(from: &buffer, decode: false, decoded: &decoded) }
        }
    }
}
