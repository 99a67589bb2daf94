import HTTPTypes
import JSONKit

/// A response read into memory, with the request it answers (for contract checks of the request side).
public struct Reply: Sendable {
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let bytes: [UInt8]
    /// The body of the request this replies to, if it had one.
    public var requestBody: [UInt8]?
    /// The headers of the request this replies to, by lowercase name (the first of repeated ones).
    public var requestHeaders: [String: String]

    public init(status: HTTPResponse.Status, headers: HTTPFields, bytes: [UInt8], requestBody: [UInt8]? = nil, requestHeaders: [String: String] = [:])
    {
        self.status = status
        self.headers = headers
        self.bytes = bytes
        self.requestBody = requestBody
        self.requestHeaders = requestHeaders
    }

    public var code: Int { self.status.code }
    public var text: String { String(decoding: self.bytes, as: UTF8.self) }
    /// The parsed body, or `null` when it is not JSON.
    public var json: JSON { (try? JSON.parse(self.bytes)) ?? .null }
    public var contentType: String? { self.headers[.contentType] }
}
