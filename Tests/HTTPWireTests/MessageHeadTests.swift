import HTTPWire
import NIOCore
import Testing

/// Parsing of request and response heads: what is accepted and how it is read, and what is refused with which error.
@Suite struct MessageHeadTests {
    func parseRequest(_ text: String) throws -> MessageHead {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        return try #require(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned))
    }

    @Test func parsesRequestHeads() throws {
        var buffer = ByteBuffer(string: "GET /api/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Two:  padded value \t\r\nCONTENT-LENGTH: 5\r\n\r\nhelloGET")
        var scanned = 0
        let head = try #require(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned))
        #expect(head.method == "GET" && head.target == "/api/x?y=1" && head.versionMinor == 1)
        #expect(head.fieldCount == 3)
        #expect(head.first("x-two") == "padded value")
        #expect(head.contentLength == 5 && !head.isChunked && head.isKeepAlive)
        #expect(String(buffer: buffer) == "helloGET", "the body and what follows stay in the buffer")
        let close = try self.parseRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive, X-Hop\r\n\r\n")
        #expect(close.versionMinor == 0 && close.isKeepAlive && close.connectionListsFields)
        #expect(!(try self.parseRequest("GET / HTTP/1.0\r\n\r\n")).isKeepAlive)
        #expect(!(try self.parseRequest("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")).isKeepAlive)
        #expect((try self.parseRequest("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n")).isChunked)
        #expect((try self.parseRequest("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")).contentLength == 3)
        #expect((try self.parseRequest("\r\n\r\nGET /after HTTP/1.1\r\n\r\n")).target == "/after", "leading empty lines are skipped")
    }

    struct HeadCase: Sendable, CustomTestStringConvertible {
        let text: String
        let method: String
        let target: String
        let versionMinor: Int
        let fieldCount: Int
        let contentLength: Int?
        let isChunked: Bool
        let isKeepAlive: Bool
        var testDescription: String { self.text.debugDescription }
    }

    @Test(arguments: [
        HeadCase(
            text: "GET / HTTP/1.1\r\n\r\n",
            method: "GET",
            target: "/",
            versionMinor: 1,
            fieldCount: 0,
            contentLength: nil,
            isChunked: false,
            isKeepAlive: true
        ),
        HeadCase(
            text: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            method: "OPTIONS",
            target: "*",
            versionMinor: 1,
            fieldCount: 1,
            contentLength: nil,
            isChunked: false,
            isKeepAlive: true
        ),
        HeadCase(
            text: "M-SEARCH! /a%20b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            method: "M-SEARCH!",
            target: "/a%20b",
            versionMinor: 0,
            fieldCount: 1,
            contentLength: nil,
            isChunked: false,
            isKeepAlive: true
        ),
        HeadCase(
            text: "POST /p HTTP/1.1\r\nContent-Length:0\r\nConnection: keep-alive, close\r\n\r\n",
            method: "POST",
            target: "/p",
            versionMinor: 1,
            fieldCount: 2,
            contentLength: 0,
            isChunked: false,
            isKeepAlive: false
        ),
        HeadCase(
            text: "PUT /p HTTP/1.1\r\ntransfer-encoding:\t chunked \t\r\nX-Empty:\r\n\r\n",
            method: "PUT",
            target: "/p",
            versionMinor: 1,
            fieldCount: 2,
            contentLength: nil,
            isChunked: true,
            isKeepAlive: true
        ),
        HeadCase(
            text: "GET /u HTTP/1.1\r\nX-Utf8: caf\u{E9}\r\nContent-Length: 000000000000012\r\n\r\n",
            method: "GET",
            target: "/u",
            versionMinor: 1,
            fieldCount: 2,
            contentLength: 12,
            isChunked: false,
            isKeepAlive: true
        ),
    ])
    func readsRequestHeads(_ testCase: HeadCase) throws {
        let head = try self.parseRequest(testCase.text)
        #expect(head.method == testCase.method)
        #expect(head.target == testCase.target)
        #expect(head.versionMinor == testCase.versionMinor)
        #expect(head.fieldCount == testCase.fieldCount)
        #expect(head.contentLength == testCase.contentLength)
        #expect(head.isChunked == testCase.isChunked)
        #expect(head.isKeepAlive == testCase.isKeepAlive)
        #expect(head.bytes.readableBytes == testCase.text.utf8.count, "the head's buffer is the head exactly")
    }

    @Test func fieldAccessorsReturnNamesValuesAndLines() throws {
        let head = try self.parseRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Two:  padded value \t\r\nhost: b\r\n\r\n")
        #expect(head.allFields.map { "\($0.0)=\($0.1)" } == ["Host=a", "X-Two=padded value", "host=b"])
        #expect(head.first("host") == "a", "the first of repeated fields")
        #expect(head.contains("x-two") && !head.contains("x-three"))
        #expect(head.fieldIs(2, "host") && !head.fieldIs(1, "host"))
        #expect(head.string(head.lineRange(1)) == "X-Two:  padded value \t\r\n")
        #expect(head.name(1) == "X-Two" && head.value(1) == "padded value")
    }

    @Test func incompleteHeadsWaitForMoreBytes() throws {
        let text = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        var buffer = ByteBuffer()
        var scanned = 0
        for byte in text.utf8.dropLast() {
            buffer.writeInteger(byte)
            #expect(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned) == nil)
        }
        buffer.writeString("\n")
        #expect(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned)?.target == "/a")
        var huge = ByteBuffer(string: "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 70_000))
        scanned = 0
        #expect(throws: HTTPWireError.self) { _ = try MessageHead.parse(from: &huge, isRequest: true, scanned: &scanned) }
    }

    @Test func anEmptyLineSplitBeforeARequestIsStillSkipped() throws {
        var buffer = ByteBuffer(string: "\r\n\r")
        var scanned = 0
        #expect(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned) == nil)
        buffer.writeString("\nGET /after HTTP/1.1\r\n\r\n")
        let head = try #require(try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned))
        #expect(head.target == "/after" && buffer.readableBytes == 0)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\nHost: x\r\n\r\n",  // bare LF
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",  // space before colon
        "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  // obsolete folding
        "GET / HTTP/1.1\r\nX\u{1}: a\r\n\r\n",  // bad name
        "GET / HTTP/1.1\r\nX: a\u{7F}\r\n\r\n",  // control character
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",  // bare CR in a value
        "GET / HTTP/1.1\r\n: a\r\n\r\n",  // empty name
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET /\u{1} HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "\nGET / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ])
    func rejectsMalformedHeads(_ text: String) {
        #expect(throws: HTTPWireError.self) { _ = try self.parseRequest(text) }
        #expect(self.kind(text) == .malformed)
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
    ])
    func rejectsTransferCodingsOtherThanOneChunked(_ text: String) {
        #expect(self.kind(text) == .unsupportedTransferCoding)
    }

    @Test func rejectsHeadsOverTheLimit() {
        let complete = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: MessageHead.maximumSize) + "\r\n\r\n"
        #expect(self.kind(complete) == .headTooLarge)
        let unfinished = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: MessageHead.maximumSize)
        #expect(self.kind(unfinished) == .headTooLarge)
    }

    func kind(_ text: String) -> HTTPWireError.Kind? {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        do {
            _ = try MessageHead.parse(from: &buffer, isRequest: true, scanned: &scanned)
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func parsesResponseHeads() throws {
        var buffer = ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        var scanned = 0
        let head = try #require(try MessageHead.parse(from: &buffer, isRequest: false, scanned: &scanned))
        #expect(head.status == 404 && head.string(head.second) == "Not Found" && head.contentLength == 0)
        var bare = ByteBuffer(string: "HTTP/1.0 200\r\n\r\n")
        let noReason = try #require(try MessageHead.parse(from: &bare, isRequest: false, scanned: &scanned))
        #expect(noReason.status == 200 && !noReason.isKeepAlive)
        var bad = ByteBuffer(string: "HTTP/1.1 2x0 OK\r\n\r\n")
        #expect(throws: HTTPWireError.self) { _ = try MessageHead.parse(from: &bad, isRequest: false, scanned: &scanned) }
    }

    @Test(arguments: [
        "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 O\u{1}K\r\n\r\n", "HTTP/1.2 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
    ])
    func rejectsMalformedStatusLines(_ text: String) {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        #expect(throws: HTTPWireError.self) { _ = try MessageHead.parse(from: &buffer, isRequest: false, scanned: &scanned) }
    }

    @Test func responsesDoNotSkipLeadingEmptyLines() {
        var buffer = ByteBuffer(string: "\r\nHTTP/1.1 200 OK\r\n\r\n")
        var scanned = 0
        #expect(throws: HTTPWireError.self) { _ = try MessageHead.parse(from: &buffer, isRequest: false, scanned: &scanned) }
    }
}
