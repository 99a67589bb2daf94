import NIOCore

/// Tracks where a message body ends in a byte stream, and optionally decodes `chunked`.
public struct BodyFramer {
    public enum Framing: Equatable, Sendable {
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

    /// How the body is delimited.
    public private(set) var framing: Framing
    private var remaining: Int
    private var chunk: ChunkState = .size(value: 0, digits: 0)
    private var trailerBytes = 0
    /// Body bytes so far (decoded: chunk data only).
    public private(set) var dataBytes = 0
    /// Whether the whole body (for chunked: up to the end of the trailers) has been taken.
    public private(set) var isComplete: Bool

    /// A framer at the start of a body delimited by `framing`.
    public init(_ framing: Framing) {
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
    public mutating func take(from buffer: inout ByteBuffer, decode: Bool, decoded: inout [ByteBuffer]) throws(HTTPWireError) -> ByteBuffer? {
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
    public mutating func connectionClosed() -> Bool {
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
