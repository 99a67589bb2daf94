import HTTPTypes
import Hummingbird
import JSONKit
import NIOCore

extension Request {
    /// Collects the body (at most `limit` bytes) and parses it as a JSON object.
    ///
    /// Every failure is a 4xx ``APIError``: 413 when too large, 400 when missing, malformed, not UTF-8 or not an object.
    public func jsonObject(limit: Int) async throws(APIError) -> JSONObject {
        let buffer: ByteBuffer
        do {
            buffer = try await self.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw .payloadTooLarge(limit: limit)
        } catch {
            throw .badRequest("Request body could not be read")
        }
        guard buffer.readableBytes > 0 else { throw .badRequest("Request body is required") }
        let value: JSON
        do {
            value =
                try buffer.readableBytesView.withContiguousStorageIfAvailable { try JSON.parse($0) }
                ?? JSON.parse(Array(buffer.readableBytesView))
        } catch let error as JSONParseError {
            throw .badRequest("Malformed JSON: \(error.description)")
        } catch {
            throw .badRequest("Malformed JSON")
        }
        guard case .object(let object) = value else {
            throw .badRequest("Request body must be a JSON object, not \(value.typeName)")
        }
        return object
    }

    /// The bearer token of the `Authorization` header (`Bearer TOKEN`, the scheme in any case, spaces around the
    /// token ignored), if any.
    public var bearerToken: String? {
        guard var header = self.headers[.authorization] else { return nil }
        return header.withUTF8(bearerToken(in:))
    }
}

/// The token of an `Authorization` header value, read on its bytes (no split, no lowercased copy: every authenticated
/// request reads one).
func bearerToken(in header: UnsafeBufferPointer<UInt8>) -> String? {
    var start = header.startIndex
    while start < header.endIndex, header[start] == UInt8(ascii: " ") { start += 1 }
    let scheme = "bearer".utf8
    guard header.endIndex - start > scheme.count, header[start + scheme.count] == UInt8(ascii: " ") else { return nil }
    for (offset, letter) in scheme.enumerated() where header[start + offset] | 0x20 != letter { return nil }
    var token = UnsafeBufferPointer(rebasing: header[(start + scheme.count + 1)...])
    let isASCIIWhitespace = { (byte: UInt8) in byte == UInt8(ascii: " ") || (0x09...0x0D).contains(byte) }
    while let first = token.first, isASCIIWhitespace(first) { token = UnsafeBufferPointer(rebasing: token.dropFirst()) }
    while let last = token.last, isASCIIWhitespace(last) { token = UnsafeBufferPointer(rebasing: token.dropLast()) }
    guard !token.isEmpty else { return nil }
    let text = String(decoding: token, as: UTF8.self)
    // Other Unicode whitespace (no-break space, …) at an end: trimmed as `Character.isWhitespace` says.
    return token.first! < 0x80 && token.last! < 0x80 ? text : text.trimmingWhitespace()
}
