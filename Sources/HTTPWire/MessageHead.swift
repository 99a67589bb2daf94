import NIOCore

/// A parsed HTTP/1.x message head: byte ranges into the head's own buffer, and its framing.
///
/// Parsing is strict (request smuggling defences, as in RFC 9112 §6.3 and §11.2): CRLF line ends only, no
/// whitespace before a colon, no obsolete line folding, token characters in methods and field names, no control
/// characters in values, `Content-Length` only as digits (repeats must agree), `Transfer-Encoding` only `chunked`
/// and never together with `Content-Length`.
public struct MessageHead {
    /// The head, from the start line to the empty line (inclusive), indices from 0.
    public let bytes: ByteBuffer
    /// Request: method, target. Response: status code text, reason.
    public let first: Range<Int>
    public let second: Range<Int>
    /// 0 (HTTP/1.0) or 1 (HTTP/1.1).
    public let versionMinor: Int
    /// Responses: the status code.
    public let status: Int
    /// Each field line: name start, name length, value start, value length (16 bits each).
    public let fields: [UInt64]
    public let contentLength: Int?
    public let isChunked: Bool
    /// `Connection: close` / `keep-alive`, and whether `Connection` names other fields.
    public let connectionClose: Bool
    public let connectionKeepAlive: Bool
    public let connectionListsFields: Bool

    /// Whether the connection stays open after this message (HTTP/1.1 default, or 1.0 with keep-alive).
    public var isKeepAlive: Bool { self.versionMinor >= 1 ? !self.connectionClose : self.connectionKeepAlive && !self.connectionClose }

    /// The largest head accepted, in bytes (start line to the empty line).
    public static let maximumSize = 64 * 1024

    // MARK: Access

    /// The bytes of `range` of the head, as a string.
    public func string(_ range: Range<Int>) -> String {
        self.bytes.getString(at: range.lowerBound, length: range.count) ?? ""
    }

    /// Requests: the method.
    public var method: String { self.string(self.first) }
    /// Requests: the request target.
    public var target: String { self.string(self.second) }
    /// The number of field lines.
    public var fieldCount: Int { self.fields.count }

    /// The byte range of field `index`'s name.
    public func nameRange(_ index: Int) -> Range<Int> {
        let field = self.fields[index]
        let start = Int(field >> 48)
        return start..<(start + Int((field >> 32) & 0xFFFF))
    }

    /// The byte range of field `index`'s value (without surrounding whitespace).
    public func valueRange(_ index: Int) -> Range<Int> {
        let field = self.fields[index]
        let start = Int((field >> 16) & 0xFFFF)
        return start..<(start + Int(field & 0xFFFF))
    }

    /// The whole line of field `index` (name to the end of its CRLF). Field lines are contiguous: a line ends where
    /// the next one starts, and the last one before the empty line that ends the head.
    public func lineRange(_ index: Int) -> Range<Int> {
        let start = Int(self.fields[index] >> 48)
        let end = index + 1 < self.fields.count ? Int(self.fields[index + 1] >> 48) : self.bytes.readableBytes - 2
        return start..<end
    }

    /// Field `index`'s name as a string.
    public func name(_ index: Int) -> String { self.string(self.nameRange(index)) }
    /// Field `index`'s value as a string.
    public func value(_ index: Int) -> String { self.string(self.valueRange(index)) }

    /// Whether field `index` is named `lowercaseName` (ASCII case-insensitive).
    public func fieldIs(_ index: Int, _ lowercaseName: StaticString) -> Bool {
        self.bytes.withUnsafeReadableBytes { bytes in Self.equals(bytes, self.nameRange(index), lowercaseName) }
    }

    /// The value of the first field named `lowercaseName`.
    public func first(_ lowercaseName: StaticString) -> String? {
        for index in 0..<self.fields.count where self.fieldIs(index, lowercaseName) { return self.value(index) }
        return nil
    }

    /// Whether a field named `lowercaseName` is present.
    public func contains(_ lowercaseName: StaticString) -> Bool {
        for index in 0..<self.fields.count where self.fieldIs(index, lowercaseName) { return true }
        return false
    }

    /// Every field as `(name, value)` strings (for the slow paths).
    public var allFields: [(String, String)] { (0..<self.fields.count).map { (self.name($0), self.value($0)) } }

    /// Whether `bytes[range]` equals `lowercase` (an ASCII lowercase literal), ignoring ASCII case.
    public static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        for offset in 0..<range.count {
            let byte = bytes[range.lowerBound + offset]
            if (byte | ((byte &- 65) < 26 ? 0x20 : 0)) != literal[offset] { return false }
        }
        return true
    }
}
