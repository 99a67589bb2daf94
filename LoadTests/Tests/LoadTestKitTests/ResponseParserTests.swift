import Testing

@testable import LoadTestKit

@Suite struct ResponseParserTests {
    /// Feeds `text` split into the given chunk sizes and returns each result.
    func feed(_ text: String, chunks: Int? = nil, collects: Bool = false, head: Bool = false) -> (ResponseParser, [ResponseParser.Result]) {
        var parser = ResponseParser()
        parser.collects = collects
        parser.reset(isHeadRequest: head)
        let bytes = Array(text.utf8)
        let size = chunks ?? bytes.count
        var results: [ResponseParser.Result] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            results.append(bytes[start..<end].withUnsafeBytes { parser.feed($0) })
            start = end
        }
        return (parser, results)
    }

    static let nginx =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 15:00:00 GMT\r\nContent-Type: text/html\r\n"
        + "Content-Length: 5\r\nLast-Modified: Sun, 29 Nov 2026 14:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"x\"\r\n"
        + "Accept-Ranges: bytes\r\n\r\nhello"

    @Test func contentLengthInOneRead() {
        let (_, results) = feed(Self.nginx)
        #expect(results == [.complete(status: 200, keepAlive: true, extraBytes: 0)])
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func contentLengthSplitAcrossReads(chunk: Int) {
        let (_, results) = feed(Self.nginx, chunks: chunk)
        #expect(results.last == .complete(status: 200, keepAlive: true, extraBytes: 0))
        #expect(results.dropLast().allSatisfy { $0 == .incomplete })
    }

    @Test(arguments: [1, 5, 1000])
    func chunkedBodiesWithExtensionsAndTrailers(chunk: Int) {
        let text =
            "HTTP/1.1 402 Payment Required\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
        let (parser, results) = feed(text, chunks: chunk, collects: true)
        #expect(results.last == .complete(status: 402, keepAlive: true, extraBytes: 0))
        #expect(String(decoding: parser.body, as: UTF8.self) == "hello0123456789")
    }

    @Test func connectionCloseAndHTTP10() {
        #expect(
            feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").1 == [.complete(status: 200, keepAlive: false, extraBytes: 0)]
        )
        #expect(feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").1 == [.complete(status: 200, keepAlive: false, extraBytes: 0)])
        #expect(
            feed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").1 == [
                .complete(status: 200, keepAlive: true, extraBytes: 0)
            ]
        )
    }

    @Test func bodyUntilClose() {
        var (parser, results) = feed("HTTP/1.1 200 OK\r\n\r\nsome body", collects: true)
        #expect(results == [.incomplete])
        #expect(parser.readsUntilClose)
        #expect(parser.finishAtClose() == .complete(status: 200, keepAlive: false, extraBytes: 0))
        #expect(String(decoding: parser.body, as: UTF8.self) == "some body")
    }

    @Test func bodilessResponses() {
        #expect(feed("HTTP/1.1 204 No Content\r\n\r\n").1 == [.complete(status: 204, keepAlive: true, extraBytes: 0)])
        #expect(feed("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").1 == [.complete(status: 304, keepAlive: true, extraBytes: 0)])
        #expect(feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head: true).1 == [.complete(status: 200, keepAlive: true, extraBytes: 0)])
    }

    @Test func interimResponsesAreSkipped() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
        #expect(feed(text).1 == [.complete(status: 201, keepAlive: true, extraBytes: 0)])
        #expect(feed(text, chunks: 4).1.last == .complete(status: 201, keepAlive: true, extraBytes: 0))
    }

    @Test func bareLineFeedsAndExtraBytes() {
        #expect(feed("HTTP/1.1 200 OK\nContent-Length: 1\n\nxEXTRA").1 == [.complete(status: 200, keepAlive: true, extraBytes: 5)])
    }

    @Test func headersAreCollectedWhenAsked() {
        let (parser, _) = feed("HTTP/1.1 200 OK\r\nX-Request-ID:  abc \r\nContent-Length: 0\r\n\r\n", collects: true)
        #expect(parser.headers.map(\.name) == ["x-request-id", "content-length"])
        #expect(parser.headers.first?.value == "abc")
    }

    @Test(arguments: [
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "hello world, this is not http\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    ])
    func invalidResponses(text: String) {
        #expect(feed(text, collects: true).1.last == .invalid)
    }
}
