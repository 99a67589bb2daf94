import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit
import NIOCore

/// Helpers the faults are written with: read and replace request and response bodies, match paths.
enum Rewrite {
    /// The whole response body.
    static func bytes(of response: Response) async throws -> [UInt8] {
        let collector = Collector()
        try await response.body.write(collector)
        return collector.bytes
    }

    /// The response with its JSON body transformed (unchanged when the body is not JSON).
    static func json(_ response: Response, _ transform: (JSON) -> JSON) async throws -> Response {
        let bytes = try await Self.bytes(of: response)
        guard let json = try? JSON.parse(bytes) else { return Self.replacing(response, body: bytes) }
        return Self.replacing(response, body: transform(json).bytes)
    }

    static func replacing(_ response: Response, body: [UInt8], status: HTTPResponse.Status? = nil) -> Response {
        var headers = response.headers
        headers[.contentLength] = String(body.count)
        return Response(status: status ?? response.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func jsonResponse(_ json: JSON, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }

    /// The request body (at most 4 MiB) and the request carrying it again.
    static func body(of request: Request) async throws -> (bytes: [UInt8], request: Request) {
        var request = request
        let buffer = try await request.body.collect(upTo: 4 << 20)
        request.body = .init(buffer: buffer)
        return (Array(buffer: buffer), request)
    }

    /// The request with its JSON object body transformed (unchanged when it is not a JSON object).
    static func jsonRequest(_ request: Request, _ transform: (JSONObject) -> JSONObject) async throws -> Request {
        let (bytes, request) = try await Self.body(of: request)
        guard case .object(let object)? = try? JSON.parse(bytes) else { return request }
        let changed = JSON.object(transform(object)).bytes
        var head = request.head
        head.headerFields[.contentLength] = String(changed.count)
        return Request(head: head, body: .init(buffer: ByteBuffer(bytes: changed)))
    }

    /// The request with a header replaced (nil removes it).
    static func setting(_ request: Request, _ name: HTTPField.Name, to value: String?) -> Request {
        var head = request.head
        head.headerFields[name] = value
        return Request(head: head, body: request.body)
    }

    /// The request with its query string replaced (nil or empty drops it).
    static func query(of request: Request, _ query: String?) -> Request {
        var head = request.head
        head.path = request.uri.path + (query.map { $0.isEmpty ? "" : "?" + $0 } ?? "")
        return Request(head: head, body: request.body)
    }

    /// `/api/reviews/x/helpful` matches `/api/reviews/*/helpful`.
    static func matches(_ path: String, _ pattern: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let wanted = pattern.split(separator: "/", omittingEmptySubsequences: true)
        guard pattern.hasSuffix("**") || parts.count == wanted.count else { return false }
        for (index, want) in wanted.enumerated() {
            if want == "**" { return true }
            guard index < parts.count, want == "*" || want == parts[index] else { return false }
        }
        return true
    }

    /// The claims of a bearer token, without any verification (what a defective service would do).
    static func claims(_ authorization: String?) -> (header: JSON, claims: JSON)? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let parts = authorization.dropFirst(7).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let header = Self.decode(parts[0]), let claims = Self.decode(parts[1]) else { return nil }
        return (header, claims)
    }

    static func decode(_ part: Substring) -> JSON? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return try? JSON.parse(Array(data))
    }

    /// A valid token for the identity in `claims` (or a fixed one), as a defective service's shortcut would accept.
    static func mint(_ tokens: TokenService, claims: JSON?, roles: [String]? = nil) -> String {
        let identity = Identity(
            userID: claims?["sub"]?.stringValue ?? "planted-fault-user",
            username: claims?["username"]?.stringValue ?? "planted",
            email: claims?["email"]?.stringValue ?? "planted@example.com",
            roles: roles ?? claims?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [Identity.userRole]
        )
        return tokens.issue(for: identity)
    }
}

/// Collects a response body in memory.
final class Collector: ResponseBodyWriter {
    var bytes: [UInt8] = []

    func write(_ buffer: ByteBuffer) async throws { self.bytes += Array(buffer: buffer) }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
