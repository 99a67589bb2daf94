import AsyncHTTPClient
import Foundation
import JSONKit
import NIOCore
import NIOHTTP1

/// A response as checks see it: status, headers, the whole body, and how long it took.
public struct HTTPResponse: Sendable {
    public let method: String
    public let url: String
    /// The path and query the request was sent to (relative to the base URL when one was used).
    public let path: String
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]
    public let duration: Duration

    public init(
        method: String,
        url: String,
        path: String,
        status: Int,
        headers: [(name: String, value: String)],
        body: [UInt8],
        duration: Duration
    ) {
        self.method = method
        self.url = url
        self.path = path
        self.status = status
        self.headers = headers
        self.body = body
        self.duration = duration
    }

    /// The first value of a header (case-insensitive name).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return self.headers.first { $0.name.lowercased() == lowered }?.value
    }

    public var contentType: String? { self.header("Content-Type") }

    /// The body parsed as JSON, or nil.
    public var json: JSON? { try? JSON.parse(self.body) }

    /// The body as text (invalid UTF-8 repaired), cut for messages.
    public var excerpt: String { Evidence.excerpt(self.body, limit: 300) }

    /// `GET /path → 200`, for messages.
    public var label: String { "\(self.method) \(self.path) → \(self.status)" }

    /// Headers as a dictionary (last value wins), lower-case names.
    public var headerDictionary: [String: String] {
        var result: [String: String] = [:]
        for header in self.headers { result[header.name.lowercased()] = header.value }
        return result
    }
}

/// A request that got no HTTP response (connection refused, reset, timeout).
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public let method: String
    public let url: String
    public let message: String

    public var description: String { "\(self.method) \(self.url): \(self.message)" }
}

/// Sends requests for a check and records them as evidence. Every request has a deadline.
public struct HTTPDriver: Sendable {
    public static let maximumBodyBytes = 16 << 20

    let client: HTTPClient
    /// The base URL relative paths are resolved against (no trailing slash).
    public let baseURL: String
    let evidence: Evidence?
    public let timeout: Duration

    public init(client: HTTPClient, baseURL: String, evidence: Evidence?, timeout: Duration = .seconds(15)) {
        self.client = client
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.evidence = evidence
        self.timeout = timeout
    }

    /// The same driver against another base URL (Prometheus, the management API, a replica).
    public func at(_ baseURL: String) -> HTTPDriver {
        HTTPDriver(client: self.client, baseURL: baseURL, evidence: self.evidence, timeout: self.timeout)
    }

    /// Sends one request.
    ///
    /// - Parameters:
    ///   - method: the HTTP method.
    ///   - path: a path and query relative to ``baseURL``, or an absolute `http://` URL.
    ///   - headers: request headers.
    ///   - body: the body bytes, if any.
    ///   - record: whether the exchange goes into the check's evidence.
    ///   - timeout: the deadline for the whole exchange (default ``timeout``).
    /// - Throws: ``HTTPTransportError`` when no response arrives.
    public func send(
        _ method: String,
        _ path: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        record: Bool = true,
        timeout: Duration? = nil
    ) async throws -> HTTPResponse {
        let url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : self.baseURL + path
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        var exchange = HTTPExchange(
            method: method,
            url: url,
            requestHeaders: headers.map { (name: $0.0, value: $0.1) },
            requestBody: body ?? [],
            status: nil,
            responseHeaders: [],
            responseBody: [],
            error: nil,
            startedAt: startedAt,
            duration: .zero
        )
        do {
            let deadline = timeout ?? self.timeout
            let response = try await self.client.execute(request, timeout: .nanoseconds(Int64(deadline.asSeconds * 1e9)))
            let buffer = try await response.body.collect(upTo: Self.maximumBodyBytes)
            let bytes = Array(buffer: buffer)
            let duration = clock.now - start
            let responseHeaders = response.headers.map { (name: $0.name, value: $0.value) }
            exchange.status = Int(response.status.code)
            exchange.responseHeaders = responseHeaders
            exchange.responseBody = bytes
            exchange.duration = duration
            if record { self.evidence?.add(.exchange(exchange)) }
            return HTTPResponse(
                method: method,
                url: url,
                path: path,
                status: Int(response.status.code),
                headers: responseHeaders,
                body: bytes,
                duration: duration
            )
        } catch {
            exchange.duration = clock.now - start
            exchange.error = String(describing: error)
            if record { self.evidence?.add(.exchange(exchange)) }
            throw HTTPTransportError(method: method, url: url, message: String(describing: error))
        }
    }

    // MARK: Conveniences

    public func get(_ path: String, token: String? = nil, headers: [(String, String)] = [], record: Bool = true) async throws -> HTTPResponse {
        try await self.send("GET", path, headers: Self.authorized(headers, token: token), record: record)
    }

    public func delete(_ path: String, token: String? = nil, headers: [(String, String)] = []) async throws -> HTTPResponse {
        try await self.send("DELETE", path, headers: Self.authorized(headers, token: token))
    }

    /// POST with a JSON body (or none when `json` is nil).
    public func post(_ path: String, json: JSON? = nil, token: String? = nil, headers: [(String, String)] = []) async throws -> HTTPResponse {
        try await self.send(
            "POST",
            path,
            headers: Self.authorized(json == nil ? headers : [("Content-Type", "application/json")] + headers, token: token),
            body: json?.bytes
        )
    }

    /// PUT with a JSON body.
    public func put(_ path: String, json: JSON, token: String? = nil, headers: [(String, String)] = []) async throws -> HTTPResponse {
        try await self.send("PUT", path, headers: Self.authorized([("Content-Type", "application/json")] + headers, token: token), body: json.bytes)
    }

    static func authorized(_ headers: [(String, String)], token: String?) -> [(String, String)] {
        guard let token else { return headers }
        return headers + [("Authorization", "Bearer " + token)]
    }

    /// An `Authorization: Basic …` header.
    public static func basicAuthorization(user: String, password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }
}
