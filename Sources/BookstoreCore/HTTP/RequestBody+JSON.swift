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

    /// The bearer token of the `Authorization` header, if any.
    public var bearerToken: String? {
        guard let header = self.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingWhitespace()
    }
}
