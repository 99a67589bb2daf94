import NIOCore

extension MessageHead {

    // MARK: Parsing

    /// Parses a head at the start of `buffer` and consumes it; nil while it is incomplete.
    /// - Parameter scanned: how many bytes were already searched for the end of the head (updated).
    public static func parse(from buffer: inout ByteBuffer, isRequest: Bool, scanned: inout Int) throws(HTTPWireError) -> MessageHead? {
        // Empty lines before a request line are ignored (RFC 9112 §2.2), as some clients send one after a body. At most
        // one byte (a CR whose LF had not arrived) was scanned before them.
        if isRequest, scanned <= 1 {
            while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
                scanned = 0
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
                    index &+= 1
                } else if bytes[index + 3] == UInt8(ascii: "\r") {
                    index &+= 1
                } else {
                    index &+= 4
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

    /// The token characters (RFC 9110 §5.6.2) as a bit set over the 128 ASCII codes: digits, letters and
    /// ``!#$%&'*+-.^_`|~``.
    private static let tokenMask: (low: UInt64, high: UInt64) = {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var characters = Array(UInt8(ascii: "0")...UInt8(ascii: "9"))
        characters += Array(UInt8(ascii: "a")...UInt8(ascii: "z")) + Array(UInt8(ascii: "A")...UInt8(ascii: "Z"))
        characters += Array("!#$%&'*+-.^_`|~".utf8)
        for byte in characters {
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }
        return (low, high)
    }()

    @inline(__always)
    private static func isToken(_ byte: UInt8, _ mask: (low: UInt64, high: UInt64)) -> Bool {
        if byte < 64 { return (mask.low >> UInt64(byte)) & 1 == 1 }
        return byte < 128 && (mask.high >> UInt64(byte &- 64)) & 1 == 1
    }

    public static func parseHead(_ head: ByteBuffer, isRequest: Bool) throws(HTTPWireError) -> MessageHead {
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
        let token = Self.tokenMask
        let count = bytes.count
        // Start line.
        var lineEnd = 0
        while bytes[lineEnd] != UInt8(ascii: "\r") { lineEnd &+= 1 }
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
            while index < lineEnd, Self.isToken(bytes[index], token) { index &+= 1 }
            guard index > 0, index < lineEnd, bytes[index] == UInt8(ascii: " ") else { throw HTTPWireError.malformed("bad method") }
            first = 0..<index
            let targetStart = index + 1
            index = targetStart
            while index < lineEnd, bytes[index] > 0x20, bytes[index] < 0x7F { index &+= 1 }
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
            while Self.isToken(bytes[position], token) { position &+= 1 }
            guard position > nameStart, bytes[position] == UInt8(ascii: ":") else { throw HTTPWireError.malformed("bad field name") }
            let nameEnd = position
            position &+= 1
            while bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") { position &+= 1 }
            let valueStart = position
            var valueEnd = position
            while bytes[position] != UInt8(ascii: "\r") {
                let byte = bytes[position]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { throw HTTPWireError.malformed("control character in a field value") }
                position &+= 1
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
    public static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
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
