#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An incremental HTTP/1.x response parser for the load engine's hot path.
///
/// It finds the status code, the body framing (`Content-Length`, chunked, or until close) and whether the connection
/// stays open, and skips the body without copying it (unless asked to collect it). Interim 1xx responses are skipped.
struct ResponseParser {
    enum Result: Equatable {
        /// More bytes are needed.
        case incomplete
        /// A complete response; `extraBytes` is how many bytes followed it in the same read.
        case complete(status: Int, keepAlive: Bool, extraBytes: Int)
        /// The bytes are not a valid response.
        case invalid
    }

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize(value: Int, digits: Int, inExtension: Bool)
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(lineLength: Int)
        case untilClose
    }

    private var state: State = .head
    private var headBytes: [UInt8] = []
    private var status = 0
    private var keepAlive = true
    private var isHeadRequest = false

    /// Whether to keep headers and body (for setup steps); the load path leaves this off.
    var collects = false
    /// Response headers (lower-cased names), when ``collects``.
    private(set) var headers: [(name: String, value: String)] = []
    /// Response body, when ``collects``.
    private(set) var body: [UInt8] = []

    static let maximumHeadSize = 64 * 1024

    /// Prepares for the next response.
    mutating func reset(isHeadRequest: Bool) {
        state = .head
        headBytes.removeAll(keepingCapacity: true)
        status = 0
        keepAlive = true
        self.isHeadRequest = isHeadRequest
        if collects {
            headers = []
            body = []
        }
    }

    /// Whether the response is being read until the connection closes (no length given).
    var readsUntilClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// Whether the parser is between responses.
    var isIdle: Bool {
        if case .head = state { return headBytes.isEmpty }
        return false
    }

    /// The response so far, for a body that ends when the connection closes.
    mutating func finishAtClose() -> Result {
        guard case .untilClose = state else { return .invalid }
        state = .head
        return .complete(status: status, keepAlive: false, extraBytes: 0)
    }

    /// Feeds bytes received from the connection.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Result {
        var position = 0
        let count = bytes.count
        while true {
            switch state {
            case .head:
                guard position < count else { return .incomplete }
                let headEnd: Int?
                if headBytes.isEmpty {
                    switch parseHead(bytes, from: position) {
                    case .complete(let end): headEnd = end
                    case .incomplete: headEnd = nil
                    case .invalid: return .invalid
                    }
                    if headEnd == nil {
                        headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position...]))
                    }
                } else {
                    // A head split across reads: parse the buffered bytes again with the new ones appended.
                    let buffered = headBytes.count
                    headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position...]))
                    let outcome = headBytes.withUnsafeBytes { parseHead($0, from: 0) }
                    switch outcome {
                    case .complete(let end):
                        headEnd = position + end - buffered
                        headBytes.removeAll(keepingCapacity: true)
                    case .incomplete: headEnd = nil
                    case .invalid: return .invalid
                    }
                }
                guard let headEnd else {
                    guard headBytes.count <= Self.maximumHeadSize else { return .invalid }
                    return .incomplete
                }
                position = headEnd
                if status >= 100, status < 200, status != 101 {
                    state = .head
                    continue
                }
                if case .fixedBody(0) = state { return complete(extra: count - position) }
            case .fixedBody(let remaining):
                let take = min(remaining, count - position)
                collect(bytes, position, take)
                position += take
                if take == remaining { return complete(extra: count - position) }
                state = .fixedBody(remaining: remaining - take)
                return .incomplete
            case .chunkSize(var value, var digits, var inExtension):
                while position < count {
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\n") {
                        guard digits > 0 else { return .invalid }
                        state = value == 0 ? .trailers(lineLength: 0) : .chunkData(remaining: value)
                        break
                    } else if inExtension || byte == UInt8(ascii: "\r") {
                        continue
                    } else if byte == UInt8(ascii: ";") {
                        inExtension = true
                    } else if let digit = Self.hexValue(byte) {
                        guard digits < 15 else { return .invalid }
                        value = value << 4 | digit
                        digits += 1
                    } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                        continue
                    } else {
                        return .invalid
                    }
                }
                if case .chunkSize = state {
                    state = .chunkSize(value: value, digits: digits, inExtension: inExtension)
                    if position >= count { return .incomplete }
                }
            case .chunkData(let remaining):
                let take = min(remaining, count - position)
                collect(bytes, position, take)
                position += take
                guard take == remaining else {
                    state = .chunkData(remaining: remaining - take)
                    return .incomplete
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                while position < count {
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\n") {
                        state = .chunkSize(value: 0, digits: 0, inExtension: false)
                        break
                    }
                    guard byte == UInt8(ascii: "\r") else { return .invalid }
                }
                if case .chunkDataEnd = state { return .incomplete }
            case .trailers(var lineLength):
                while position < count {
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\n") {
                        if lineLength == 0 { return complete(extra: count - position) }
                        lineLength = 0
                    } else if byte != UInt8(ascii: "\r") {
                        lineLength += 1
                    }
                }
                state = .trailers(lineLength: lineLength)
                return .incomplete
            case .untilClose:
                collect(bytes, position, count - position)
                return .incomplete
            }
        }
    }

    @inline(__always)
    private mutating func complete(extra: Int) -> Result {
        state = .head
        return .complete(status: status, keepAlive: keepAlive, extraBytes: extra)
    }

    @inline(__always)
    private mutating func collect(_ bytes: UnsafeRawBufferPointer, _ position: Int, _ count: Int) {
        guard collects, count > 0 else { return }
        body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)]))
    }

    private enum HeadOutcome {
        case complete(end: Int)
        case incomplete
        case invalid
    }

    /// Parses the status line and headers starting at `start`, if the blank line ending them is in `bytes`.
    ///
    /// Only the headers that frame the body or end the connection are looked at; the rest are skipped by length and
    /// first letter, so a typical head costs one `memchr` per line.
    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, from start: Int) -> HeadOutcome {
        guard let base = bytes.baseAddress else { return .incomplete }
        let count = bytes.count
        @inline(__always) func lineEnd(from index: Int) -> Int? {
            guard index < count, let found = memchr(base + index, 0x0A, count - index) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
        // Status line: HTTP/1.x SSS reason
        guard let statusEnd = lineEnd(from: start) else { return count - start > Self.maximumHeadSize ? .invalid : .incomplete }
        guard statusEnd - start >= 12, bytes[start] == UInt8(ascii: "H"), bytes[start + 1] == UInt8(ascii: "T"),
            bytes[start + 2] == UInt8(ascii: "T"), bytes[start + 3] == UInt8(ascii: "P"), bytes[start + 4] == UInt8(ascii: "/"),
            bytes[start + 5] == UInt8(ascii: "1"), bytes[start + 6] == UInt8(ascii: "."), bytes[start + 8] == UInt8(ascii: " ")
        else { return .invalid }
        var code = 0
        for index in (start + 9)..<(start + 12) {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return .invalid }
            code = code * 10 + Int(digit)
        }
        var keepAlive = bytes[start + 7] != UInt8(ascii: "0")
        var contentLength: Int?
        var chunked = false
        var collected: [(name: String, value: String)] = []

        var lineStart = statusEnd + 1
        while true {
            guard let end = lineEnd(from: lineStart) else { return count - start > Self.maximumHeadSize ? .invalid : .incomplete }
            var contentEnd = end
            if contentEnd > lineStart, bytes[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            if contentEnd == lineStart {
                lineStart = end + 1
                break
            }
            let first = bytes[lineStart] | 0x20
            let length = contentEnd - lineStart
            if collects || ((first == UInt8(ascii: "c") || first == UInt8(ascii: "t")) && length > 11) {
                var colon = lineStart
                while colon < contentEnd, bytes[colon] != UInt8(ascii: ":") { colon += 1 }
                guard colon < contentEnd, colon > lineStart else { return .invalid }
                var valueStart = colon + 1
                while valueStart < contentEnd, bytes[valueStart] == UInt8(ascii: " ") || bytes[valueStart] == UInt8(ascii: "\t") { valueStart += 1 }
                var valueEnd = contentEnd
                while valueEnd > valueStart, bytes[valueEnd - 1] == UInt8(ascii: " ") || bytes[valueEnd - 1] == UInt8(ascii: "\t") { valueEnd -= 1 }
                let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
                let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
                switch name.count {
                case 14 where Self.equalsLowercased(name, "content-length"):
                    var parsed = 0
                    guard !value.isEmpty else { return .invalid }
                    for byte in value {
                        let digit = byte &- UInt8(ascii: "0")
                        guard digit < 10, parsed < Int.max / 20 else { return .invalid }
                        parsed = parsed * 10 + Int(digit)
                    }
                    if let contentLength, contentLength != parsed { return .invalid }
                    contentLength = parsed
                case 17 where Self.equalsLowercased(name, "transfer-encoding"):
                    chunked = Self.containsLowercased(value, "chunked")
                case 10 where Self.equalsLowercased(name, "connection"):
                    if Self.containsLowercased(value, "close") {
                        keepAlive = false
                    } else if Self.containsLowercased(value, "keep-alive") {
                        keepAlive = true
                    }
                default:
                    break
                }
                if collects {
                    collected.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
                }
            }
            lineStart = end + 1
        }

        status = code
        if collects { headers = collected }
        if isHeadRequest || code == 204 || code == 304 || (code >= 100 && code < 200) {
            state = .fixedBody(remaining: 0)
        } else if chunked {
            state = .chunkSize(value: 0, digits: 0, inExtension: false)
        } else if let contentLength {
            state = .fixedBody(remaining: contentLength)
        } else {
            state = .untilClose
            keepAlive = false
        }
        self.keepAlive = keepAlive
        return .complete(end: lineStart)
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    @inline(__always)
    private static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let expected = lowercased.utf8Start
        for index in 0..<bytes.count where bytes[index] | 0x20 != expected[index] {
            // '-' (0x2D) is unaffected by | 0x20.
            return false
        }
        return true
    }

    private static func containsLowercased(_ bytes: UnsafeRawBufferPointer, _ token: StaticString) -> Bool {
        let length = token.utf8CodeUnitCount
        guard bytes.count >= length else { return false }
        let expected = token.utf8Start
        var start = 0
        while start + length <= bytes.count {
            var matches = true
            for index in 0..<length where bytes[start + index] | 0x20 != expected[index] {
                matches = false
                break
            }
            if matches { return true }
            start += 1
        }
        return false
    }
}
