import NIOCore

/// A malformed or unsupported HTTP/1.1 message (the connection cannot continue).
struct HTTPWireError: Error, CustomStringConvertible {
    enum Kind {
        case malformed
        case headTooLarge
        case unsupportedTransferCoding
    }

    let kind: Kind
    let detail: String

    static func malformed(_ detail: String) -> HTTPWireError { HTTPWireError(kind: .malformed, detail: detail) }

    var description: String { "\(self.kind): \(self.detail)" }
}

/// A parsed HTTP/1.x message head: byte ranges into the head's own buffer, and its framing.
///
/// Parsing is strict (request smuggling defences, as in RFC 9112 §6.3 and §11.2): CRLF line ends only, no
/// whitespace before a colon, no obsolete line folding, token characters in methods and field names, no control
/// characters in values, `Content-Length` only as digits (repeats must agree), `Transfer-Encoding` only `chunked`
/// and never together with `Content-Length`.
struct MessageHead {
    /// The head, from the start line to the empty line (inclusive), indices from 0.
    let bytes: ByteBuffer
    /// Request: method, target. Response: status code text, reason.
    let first: Range<Int>
    let second: Range<Int>
    /// 0 (HTTP/1.0) or 1 (HTTP/1.1).
    let versionMinor: Int
    /// Responses: the status code.
    let status: Int
    /// Each field line: name start, name length, value start, value length (16 bits each).
    let fields: [UInt64]
    let contentLength: Int?
    let isChunked: Bool
    /// `Connection: close` / `keep-alive`, and whether `Connection` names other fields.
    let connectionClose: Bool
    let connectionKeepAlive: Bool
    let connectionListsFields: Bool

    /// Whether the connection stays open after this message (HTTP/1.1 default, or 1.0 with keep-alive).
    var isKeepAlive: Bool { self.versionMinor >= 1 ? !self.connectionClose : self.connectionKeepAlive && !self.connectionClose }

    static let maximumSize = 64 * 1024

    // MARK: Access

    func string(_ range: Range<Int>) -> String {
        self.bytes.getString(at: range.lowerBound, length: range.count) ?? ""
    }

    var method: String { self.string(self.first) }
    var target: String { self.string(self.second) }
    var fieldCount: Int { self.fields.count }

    func nameRange(_ index: Int) -> Range<Int> {
        let field = self.fields[index]
        let start = Int(field >> 48)
        return start..<(start + Int((field >> 32) & 0xFFFF))
    }

    func valueRange(_ index: Int) -> Range<Int> {
        let field = self.fields[index]
        let start = Int((field >> 16) & 0xFFFF)
        return start..<(start + Int(field & 0xFFFF))
    }

    /// The whole line of field `index` (name to the end of its CRLF).
    func lineRange(_ index: Int) -> Range<Int> {
        let name = self.nameRange(index)
        let value = self.valueRange(index)
        var end = value.upperBound
        self.bytes.withUnsafeReadableBytes { bytes in
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
        }
        return name.lowerBound..<(end + 1)
    }

    func name(_ index: Int) -> String { self.string(self.nameRange(index)) }
    func value(_ index: Int) -> String { self.string(self.valueRange(index)) }

    /// Whether field `index` is named `lowercaseName` (ASCII case-insensitive).
    func fieldIs(_ index: Int, _ lowercaseName: StaticString) -> Bool {
        self.bytes.withUnsafeReadableBytes { bytes in Self.equals(bytes, self.nameRange(index), lowercaseName) }
    }

    /// The value of the first field named `lowercaseName`.
    func first(_ lowercaseName: StaticString) -> String? {
        for index in 0..<self.fields.count where self.fieldIs(index, lowercaseName) { return self.value(index) }
        return nil
    }

    func contains(_ lowercaseName: StaticString) -> Bool {
        for index in 0..<self.fields.count where self.fieldIs(index, lowercaseName) { return true }
        return false
    }

    /// Every field as `(name, value)` strings (for the slow paths).
    var allFields: [(String, String)] { (0..<self.fields.count).map { (self.name($0), self.value($0)) } }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        for offset in 0..<range.count {
            let byte = bytes[range.lowerBound + offset]
            if (byte | ((byte &- 65) < 26 ? 0x20 : 0)) != literal[offset] { return false }
        }
        return true
    }

    // MARK: Parsing

    /// Parses a head at the start of `buffer` and consumes it; nil while it is incomplete.
    /// - Parameter scanned: how many bytes were already searched for the end of the head (updated).
    static func parse(from buffer: inout ByteBuffer, isRequest: Bool, scanned: inout Int) throws(HTTPWireError) -> MessageHead? {
        // Empty lines before a request line are ignored (RFC 9112 §2.2), as some clients send one after a body.
        if isRequest, scanned == 0 {
            while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
            }
        }
        // Find the empty line that ends the head.
        let available = buffer.readableBytes
        var end = -1
        buffer.withUnsafeReadableBytes { bytes in
            var index = max(0, scanned - 3)
            while index + 3 < bytes.count {
                if bytes[index + 3] == UInt8(ascii: "\n") {
                    if bytes[index] == UInt8(ascii: "\r") && bytes[index + 1] == UInt8(ascii: "\n") && bytes[index + 2] == UInt8(ascii: "\r") {
                        end = index + 4
                        return
                    }
                    index += 1
                } else if bytes[index + 3] == UInt8(ascii: "\r") {
                    index += 1
                } else {
                    index += 4
                }
            }
        }
        guard end > 0 else {
            scanned = available
            if available > Self.maximumSize { throw HTTPWireError(kind: .headTooLarge, detail: "head over \(Self.maximumSize) bytes") }
            return nil
        }
        if end > Self.maximumSize { throw HTTPWireError(kind: .headTooLarge, detail: "head over \(Self.maximumSize) bytes") }
        scanned = 0
        let head = buffer.readSlice(length: end)!
        return try Self.parseHead(head, isRequest: isRequest)
    }

    private static let tokenCharacters: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for character in "!#$%&'*+-.^_`|~".utf8 { table[Int(character)] = true }
        return table
    }()

    static func parseHead(_ head: ByteBuffer, isRequest: Bool) throws(HTTPWireError) -> MessageHead {
        let result: Result<MessageHead, HTTPWireError> = head.withUnsafeReadableBytes { bytes in
            do {
                return .success(try Self.parseBytes(bytes, head: head, isRequest: isRequest))
            } catch let error as HTTPWireError {
                return .failure(error)
            } catch {
                return .failure(.malformed("\(error)"))
            }
        }
        return try result.get()
    }

    private static func parseBytes(_ bytes: UnsafeRawBufferPointer, head: ByteBuffer, isRequest: Bool) throws -> MessageHead {
        let token = Self.tokenCharacters
        let count = bytes.count
        // Start line.
        var lineEnd = 0
        while bytes[lineEnd] != UInt8(ascii: "\r") { lineEnd += 1 }
        guard bytes[lineEnd + 1] == UInt8(ascii: "\n") else { throw HTTPWireError.malformed("bare CR") }
        var first = 0..<0
        var second = 0..<0
        var versionMinor = 1
        var status = 0
        func parseVersion(_ start: Int) throws -> Int {
            guard start + 8 <= count, bytes[start] == UInt8(ascii: "H"), bytes[start + 1] == UInt8(ascii: "T"),
                bytes[start + 2] == UInt8(ascii: "T"), bytes[start + 3] == UInt8(ascii: "P"), bytes[start + 4] == UInt8(ascii: "/"),
                bytes[start + 5] == UInt8(ascii: "1"), bytes[start + 6] == UInt8(ascii: "."),
                bytes[start + 7] == UInt8(ascii: "0") || bytes[start + 7] == UInt8(ascii: "1")
            else { throw HTTPWireError.malformed("unsupported HTTP version") }
            return Int(bytes[start + 7] - UInt8(ascii: "0"))
        }
        if isRequest {
            var index = 0
            while index < lineEnd, token[Int(bytes[index])] { index += 1 }
            guard index > 0, index < lineEnd, bytes[index] == UInt8(ascii: " ") else { throw HTTPWireError.malformed("bad method") }
            first = 0..<index
            let targetStart = index + 1
            index = targetStart
            while index < lineEnd, bytes[index] > 0x20, bytes[index] < 0x7F { index += 1 }
            guard index > targetStart, index < lineEnd, bytes[index] == UInt8(ascii: " ") else { throw HTTPWireError.malformed("bad target") }
            second = targetStart..<index
            guard index + 9 == lineEnd else { throw HTTPWireError.malformed("bad request line") }
            versionMinor = try parseVersion(index + 1)
        } else {
            versionMinor = try parseVersion(0)
            guard lineEnd >= 12, bytes[8] == UInt8(ascii: " ") else { throw HTTPWireError.malformed("bad status line") }
            for offset in 9..<12 {
                let digit = bytes[offset] &- UInt8(ascii: "0")
                guard digit < 10 else { throw HTTPWireError.malformed("bad status code") }
                status = status * 10 + Int(digit)
            }
            first = 9..<12
            guard lineEnd == 12 || bytes[12] == UInt8(ascii: " ") else { throw HTTPWireError.malformed("bad status line") }
            second = min(13, lineEnd)..<lineEnd
            for offset in second where bytes[offset] < 0x20 && bytes[offset] != 0x09 { throw HTTPWireError.malformed("bad reason") }
        }

        // Field lines.
        var fields: [UInt64] = []
        fields.reserveCapacity(16)
        var contentLength: Int?
        var isChunked = false
        var transferEncodingSeen = false
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionListsFields = false
        var position = lineEnd + 2
        while true {
            guard position + 1 < count else { throw HTTPWireError.malformed("truncated head") }
            if bytes[position] == UInt8(ascii: "\r") {
                guard bytes[position + 1] == UInt8(ascii: "\n"), position + 2 == count else { throw HTTPWireError.malformed("bad end of head") }
                break
            }
            guard bytes[position] != UInt8(ascii: " ") && bytes[position] != UInt8(ascii: "\t") else {
                throw HTTPWireError.malformed("obsolete line folding")
            }
            let nameStart = position
            while token[Int(bytes[position])] { position += 1 }
            guard position > nameStart, bytes[position] == UInt8(ascii: ":") else { throw HTTPWireError.malformed("bad field name") }
            let nameEnd = position
            position += 1
            while bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") { position += 1 }
            let valueStart = position
            var valueEnd = position
            while bytes[position] != UInt8(ascii: "\r") {
                let byte = bytes[position]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { throw HTTPWireError.malformed("control character in a field value") }
                position += 1
                if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { valueEnd = position }
            }
            guard bytes[position + 1] == UInt8(ascii: "\n") else { throw HTTPWireError.malformed("bare CR") }
            position += 2
            guard nameEnd - nameStart < 0xFFFF, valueEnd - valueStart < 0xFFFF else { throw HTTPWireError.malformed("field too long") }
            fields.append(
                UInt64(nameStart) << 48 | UInt64(nameEnd - nameStart) << 32 | UInt64(valueStart) << 16 | UInt64(valueEnd - valueStart)
            )
            let name = nameStart..<nameEnd
            let value = valueStart..<valueEnd
            switch name.count {
            case 10 where Self.equals(bytes, name, "connection"):
                Self.forEachToken(bytes, value) { token in
                    if Self.equals(bytes, token, "close") {
                        connectionClose = true
                    } else if Self.equals(bytes, token, "keep-alive") {
                        connectionKeepAlive = true
                    } else {
                        connectionListsFields = true
                    }
                }
            case 14 where Self.equals(bytes, name, "content-length"):
                guard !value.isEmpty, value.count <= 15 else { throw HTTPWireError.malformed("bad Content-Length") }
                var length = 0
                for offset in value {
                    let digit = bytes[offset] &- UInt8(ascii: "0")
                    guard digit < 10 else { throw HTTPWireError.malformed("bad Content-Length") }
                    length = length * 10 + Int(digit)
                }
                if let contentLength, contentLength != length { throw HTTPWireError.malformed("conflicting Content-Length") }
                contentLength = length
            case 17 where Self.equals(bytes, name, "transfer-encoding"):
                // Only a single `chunked` coding is supported.
                guard !transferEncodingSeen else { throw HTTPWireError(kind: .unsupportedTransferCoding, detail: "repeated Transfer-Encoding") }
                transferEncodingSeen = true
                var codings = 0
                Self.forEachToken(bytes, value) { token in
                    codings += 1
                    if Self.equals(bytes, token, "chunked") { isChunked = true }
                }
                guard isChunked, codings == 1 else { throw HTTPWireError(kind: .unsupportedTransferCoding, detail: "unsupported Transfer-Encoding") }
            default:
                break
            }
        }
        if isChunked {
            guard contentLength == nil else { throw HTTPWireError.malformed("both Transfer-Encoding and Content-Length") }
            guard versionMinor >= 1 else { throw HTTPWireError.malformed("Transfer-Encoding in HTTP/1.0") }
        }
        return MessageHead(
            bytes: head,
            first: first,
            second: second,
            versionMinor: versionMinor,
            status: status,
            fields: fields,
            contentLength: contentLength,
            isChunked: isChunked,
            connectionClose: connectionClose,
            connectionKeepAlive: connectionKeepAlive,
            connectionListsFields: connectionListsFields
        )
    }

    /// Calls `body` with each comma-separated, trimmed, non-empty token range of `range`.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        while start < range.upperBound {
            var end = start
            while end < range.upperBound, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var lower = start
            var upper = end
            while lower < upper, bytes[lower] == UInt8(ascii: " ") || bytes[lower] == UInt8(ascii: "\t") { lower += 1 }
            while upper > lower, bytes[upper - 1] == UInt8(ascii: " ") || bytes[upper - 1] == UInt8(ascii: "\t") { upper -= 1 }
            if upper > lower { body(lower..<upper) }
            start = end + 1
        }
    }
}

/// Tracks where a message body ends in a byte stream, and optionally decodes `chunked`.
struct BodyFramer {
    enum Framing: Equatable {
        /// No body.
        case none
        case length(Int)
        case chunked
        /// Until the connection closes (responses only).
        case untilClose
    }

    private enum ChunkState {
        case size(value: Int, digits: Int)
        case extensionText
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF(emptyLine: Bool)
    }

    private(set) var framing: Framing
    private var remaining: Int
    private var chunk: ChunkState = .size(value: 0, digits: 0)
    private var trailerBytes = 0
    /// Body bytes so far (decoded: chunk data only).
    private(set) var dataBytes = 0
    private(set) var isComplete: Bool

    init(_ framing: Framing) {
        self.framing = framing
        switch framing {
        case .none:
            self.remaining = 0
            self.isComplete = true
        case .length(let length):
            self.remaining = length
            self.isComplete = length == 0
        case .chunked, .untilClose:
            self.remaining = 0
            self.isComplete = false
        }
    }

    /// Takes the body bytes at the start of `buffer` (leaving what follows the body), and returns them: as received
    /// (`decode` false) or, for chunked bodies, only the chunk data (`decode` true, in `decoded`).
    mutating func take(from buffer: inout ByteBuffer, decode: Bool, decoded: inout [ByteBuffer]) throws(HTTPWireError) -> ByteBuffer? {
        guard !self.isComplete, buffer.readableBytes > 0 else { return nil }
        switch self.framing {
        case .none:
            return nil
        case .length:
            let length = min(self.remaining, buffer.readableBytes)
            self.remaining -= length
            self.dataBytes += length
            if self.remaining == 0 { self.isComplete = true }
            let slice = buffer.readSlice(length: length)!
            if decode { decoded.append(slice) }
            return slice
        case .untilClose:
            self.dataBytes += buffer.readableBytes
            let slice = buffer.readSlice(length: buffer.readableBytes)!
            if decode { decoded.append(slice) }
            return slice
        case .chunked:
            let consumed = try self.scanChunked(buffer, decode: decode, decoded: &decoded)
            return buffer.readSlice(length: consumed)!
        }
    }

    /// The connection closed: a body delimited by the close is complete.
    mutating func connectionClosed() -> Bool {
        if case .untilClose = self.framing, !self.isComplete {
            self.isComplete = true
            return true
        }
        return self.isComplete
    }

    /// Runs the chunked state machine over `buffer`; returns how many bytes belong to the body.
    private mutating func scanChunked(_ buffer: ByteBuffer, decode: Bool, decoded: inout [ByteBuffer]) throws(HTTPWireError) -> Int {
        var state = self.chunk
        var dataBytes = self.dataBytes
        var trailerBytes = self.trailerBytes
        var complete = false
        let count = buffer.readableBytes
        let reader = buffer.readerIndex
        let failure: HTTPWireError? = buffer.withUnsafeReadableBytes { bytes -> HTTPWireError? in
            var index = 0
            while index < count {
                let byte = bytes[index]
                switch state {
                case .size(let value, let digits):
                    if let digit = Self.hexValue(byte) {
                        guard digits < 15 else { return .malformed("chunk size too large") }
                        state = .size(value: value << 4 | digit, digits: digits + 1)
                    } else if digits == 0 {
                        return .malformed("bad chunk size")
                    } else if byte == UInt8(ascii: "\r") {
                        state = .sizeLF(value: value)
                    } else if byte == UInt8(ascii: ";") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                        state = .extensionText
                        self.remaining = value
                    } else {
                        return .malformed("bad chunk size")
                    }
                    index += 1
                case .extensionText:
                    if byte == UInt8(ascii: "\r") {
                        state = .sizeLF(value: self.remaining)
                    } else if byte < 0x20 && byte != 0x09 {
                        return .malformed("bad chunk extension")
                    }
                    trailerBytes += 1
                    if trailerBytes > 4096 { return .malformed("chunk extensions too long") }
                    index += 1
                case .sizeLF(let value):
                    guard byte == UInt8(ascii: "\n") else { return .malformed("bad chunk line") }
                    state = value == 0 ? .trailerLineStart : .data(remaining: value)
                    index += 1
                case .data(let remaining):
                    let length = min(remaining, count - index)
                    if decode { decoded.append(buffer.getSlice(at: reader + index, length: length)!) }
                    dataBytes += length
                    index += length
                    state = remaining - length == 0 ? .dataCR : .data(remaining: remaining - length)
                case .dataCR:
                    guard byte == UInt8(ascii: "\r") else { return .malformed("missing CRLF after chunk") }
                    state = .dataLF
                    index += 1
                case .dataLF:
                    guard byte == UInt8(ascii: "\n") else { return .malformed("missing CRLF after chunk") }
                    state = .size(value: 0, digits: 0)
                    trailerBytes = 0
                    index += 1
                case .trailerLineStart:
                    if byte == UInt8(ascii: "\r") {
                        state = .trailerLF(emptyLine: true)
                    } else {
                        state = .trailerLine
                    }
                    index += 1
                case .trailerLine:
                    if byte == UInt8(ascii: "\r") { state = .trailerLF(emptyLine: false) }
                    trailerBytes += 1
                    if trailerBytes > 16 * 1024 { return .malformed("trailers too long") }
                    index += 1
                case .trailerLF(let emptyLine):
                    guard byte == UInt8(ascii: "\n") else { return .malformed("bad trailer line") }
                    index += 1
                    if emptyLine {
                        complete = true
                        state = .size(value: 0, digits: 0)
                        self.scanEnd = index
                        return nil
                    }
                    state = .trailerLineStart
                }
            }
            self.scanEnd = count
            return nil
        }
        if let failure { throw failure }
        self.chunk = state
        self.dataBytes = dataBytes
        self.trailerBytes = trailerBytes
        if complete { self.isComplete = true }
        return self.scanEnd
    }

    private var scanEnd = 0

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
