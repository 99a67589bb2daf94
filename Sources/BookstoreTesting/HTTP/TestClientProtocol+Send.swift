import HTTPTypes
import HummingbirdTesting
import JSONKit
import NIOCore

extension TestClientProtocol {
    /// Sends a request and reads the whole response.
    /// - Parameters:
    ///   - token: sent as `Authorization: Bearer …`.
    ///   - json: a JSON body (`Content-Type: application/json`).
    ///   - body: a raw body, also sent as `application/json` (for malformed JSON); ignored when `json` is given.
    ///   - headers: further request headers.
    @discardableResult
    public func send(
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = nil,
        json: JSON? = nil,
        body: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> Reply {
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        var buffer: ByteBuffer?
        if let json {
            fields[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: json.bytes)
        } else if let body {
            fields[.contentType] = "application/json"
            buffer = ByteBuffer(string: body)
        }
        let requestBody = buffer.map { Array(buffer: $0) }
        let requestHeaders = Dictionary(fields.map { ($0.name.canonicalName, $0.value) }) { first, _ in first }
        return try await self.execute(uri: uri, method: method, headers: fields, body: buffer) { response in
            Reply(
                status: response.status,
                headers: response.headers,
                bytes: Array(buffer: response.body),
                requestBody: requestBody,
                requestHeaders: requestHeaders
            )
        }
    }
}
