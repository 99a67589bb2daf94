import BookstoreCore
import HTTPTypes
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A route of the table bound to its upstream, with its metric labels and timeout.
final class ResolvedRoute: Sendable {
    let route: GatewayRoute
    let upstream: Upstream
    /// The `route` label of requests to the prefix itself and below it (the router's templates).
    let exactLabel: String
    let wildcardLabel: String
    let responseTimeout: TimeAmount
    /// The prefix's bytes, for matching.
    let prefix: [UInt8]
    let rewritesPath: Bool

    init(route: GatewayRoute, upstream: Upstream, responseTimeout: TimeAmount) {
        self.route = route
        self.upstream = upstream
        self.exactLabel = route.prefix
        self.wildcardLabel = route.prefix + "/**"
        self.responseTimeout = responseTimeout
        self.prefix = Array(route.prefix.utf8)
        self.rewritesPath = route.rewrite != route.prefix
    }

    /// Whether `path` is the prefix (true), below it (false), or elsewhere (nil).
    func match(_ path: UnsafeRawBufferPointer) -> Bool? {
        let count = self.prefix.count
        guard path.count >= count else { return nil }
        let equal = self.prefix.withUnsafeBytes { prefix in memcmp(prefix.baseAddress!, path.baseAddress!, count) == 0 }
        guard equal else { return nil }
        if path.count == count { return true }
        return path[count] == UInt8(ascii: "/") ? false : nil
    }
}

/// What to do with an incoming request.
enum ProxyPlan {
    /// Forward it.
    case forward(ProxyRequest, routeLabel: String, expectsContinue: Bool)
    /// Answer at the edge (404, 400, 401, 413, 429). `closeConnection`: the body was not read.
    case reject(APIError, requestID: String, routeLabel: String, closeConnection: Bool)
}

/// The checks at the edge and the upstream request head, shared by both front ends (the event-loop fast path and the
/// router fallback): route, path safety, rate limit, token, body limit, request id, forwarded headers, hop-by-hop
/// headers stripped.
struct ProxyPlanner: Sendable {
    let routes: [ResolvedRoute]
    let tokens: TokenService
    let limiter: RateLimiter?
    let maxBodyBytes: Int
    /// `Access-Control-Allow-Origin` for requests with an `Origin`.
    let allowOrigin: String

    init(routes: [ResolvedRoute], tokens: TokenService, limiter: RateLimiter?, maxBodyBytes: Int, allowOrigin: String) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
        self.tokens = tokens
        self.limiter = limiter
        self.maxBodyBytes = maxBodyBytes
        self.allowOrigin = allowOrigin
    }

    /// GET, HEAD, OPTIONS, PUT and DELETE may be sent twice (RFC 9110 §9.2.2).
    static func isIdempotent(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: true
        default: false
        }
    }

    /// The path of a request target (origin form, or absolute form from a proxy-aware client), without the query.
    static func splitTarget(_ uri: String) -> (path: Substring, query: Substring?) {
        var target = Substring(uri)
        if !target.hasPrefix("/"), target.lowercased().hasPrefix("http://") {
            let authority = target.dropFirst("http://".count)
            target = authority[(authority.firstIndex(of: "/") ?? authority.endIndex)...]
        }
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, nil) }
        return (target[..<mark], target[target.index(after: mark)...])
    }

    /// The route for `path`: the longest prefix that is the path or a parent of it.
    func route(for path: Substring) -> (route: ResolvedRoute, isExact: Bool)? {
        var path = path
        return path.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            guard raw.count > 0 else { return nil }
            for resolved in self.routes {
                if let isExact = resolved.match(raw) { return (resolved, isExact) }
            }
            return nil
        }
    }

    /// Whether a path has a `.` or `..` segment (also percent-encoded), which could reach another route upstream.
    static func hasDotSegment(_ path: Substring) -> Bool {
        guard path.utf8.contains(UInt8(ascii: ".")) || path.utf8.contains(UInt8(ascii: "%")) else { return false }
        let dotSegments: Set<String> = [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) where segment.utf8.count <= 6 {
            if dotSegments.contains(segment.lowercased()) { return true }
        }
        return false
    }

    /// Decides what to do with a request.
    /// - Parameters:
    ///   - head: the request head as received.
    ///   - clientAddress: the peer's IP address.
    ///   - requestIDs: the id generator of the connection.
    func plan(_ head: HTTPRequestHead, clientAddress: String, requestIDs: inout RequestIDGenerator) -> ProxyPlan {
        let incomingID = head.headers.first(name: "x-request-id")
        let requestID = incomingID.flatMap { RequestIDGenerator.isAcceptable($0) ? $0 : nil } ?? requestIDs.next()
        let (path, query) = Self.splitTarget(head.uri)
        guard let (resolved, isExact) = self.route(for: path) else {
            return .reject(.notFound("No route for \(path)"), requestID: requestID, routeLabel: "unmatched", closeConnection: false)
        }
        let route = resolved.route
        let routeLabel = isExact ? resolved.exactLabel : resolved.wildcardLabel
        func reject(_ error: APIError, close: Bool = false) -> ProxyPlan {
            .reject(error, requestID: requestID, routeLabel: routeLabel, closeConnection: close)
        }
        guard !Self.hasDotSegment(path) else { return reject(.badRequest("Invalid path")) }

        // Rate limit by client: the first X-Forwarded-For hop (set by an ingress in front), else the peer.
        let forwardedFor = head.headers["x-forwarded-for"]
        if let limiter = self.limiter {
            var client = clientAddress
            if let first = forwardedFor.first?.split(separator: ",", maxSplits: 1).first?.trimmingASCIISpaces(), !first.isEmpty {
                client = String(first)
            }
            if let wait = limiter.acquire(client) { return reject(.tooManyRequests(retryAfterSeconds: wait)) }
        }

        let method = head.method.rawValue
        if route.needsToken(method: method) {
            guard let authorization = head.headers.first(name: "authorization"), authorization.count > 7,
                authorization.prefix(7).equalsIgnoringASCIICase("bearer ")
            else { return reject(.unauthorized("Missing or invalid Authorization header")) }
            do {
                _ = try self.tokens.verify(String(authorization.dropFirst(7).trimmingASCIISpaces()))
            } catch {
                return reject(error)
            }
        }

        // One pass over the headers: framing, the headers the gateway replaces, and the ones to forward.
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 6)
        var contentLength: String?
        var isChunked = false
        var host: String?
        var forwardedProto: String?
        var forwardedHost: String?
        var expectsContinue = false
        var hasOrigin = false
        var connectionHeaders: [String] = []
        var isIdempotent = Self.isIdempotent(head.method)
        for (name, value) in head.headers {
            switch HeaderRules.requestDisposition(name) {
            case .keep:
                if !isIdempotent, name.equalsIgnoringASCIICase("idempotency-key") { isIdempotent = true }
                if !hasOrigin, name.equalsIgnoringASCIICase("origin") { hasOrigin = true }
                headers.add(name: name, value: value)
            case .drop:
                switch name.utf8.count {
                case 4: if host == nil { host = value }
                case 6: expectsContinue = value.equalsIgnoringASCIICase("100-continue")
                case 10: if name.equalsIgnoringASCIICase("connection") { connectionHeaders.append(value) }
                case 14: contentLength = value
                case 16: if forwardedHost == nil, name.equalsIgnoringASCIICase("x-forwarded-host") { forwardedHost = value }
                case 17:
                    if name.equalsIgnoringASCIICase("transfer-encoding") {
                        isChunked = isChunked || value.lowercased().contains("chunked")
                    } else if forwardedProto == nil {
                        forwardedProto = value
                    }
                default: break
                }
            }
        }
        // Headers named in `Connection` are hop-by-hop too.
        if !connectionHeaders.isEmpty {
            var listed = HTTPHeaders()
            for value in connectionHeaders { listed.add(name: "connection", value: value) }
            if let names = HeaderRules.connectionListedNames(listed) {
                for name in names { headers.remove(name: name) }
            }
        }
        var hasBody = isChunked
        if !isChunked, let contentLength {
            guard let length = Int(contentLength.trimmingASCIISpaces()), length >= 0 else {
                return reject(.badRequest("Invalid Content-Length"), close: true)
            }
            if length > self.maxBodyBytes { return reject(.payloadTooLarge(limit: self.maxBodyBytes), close: true) }
            hasBody = length > 0
        }
        if isChunked {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        } else if let contentLength {
            headers.add(name: "Content-Length", value: contentLength)
        }
        if forwardedFor.isEmpty {
            headers.add(name: "X-Forwarded-For", value: clientAddress)
        } else {
            headers.add(name: "X-Forwarded-For", value: forwardedFor.joined(separator: ", ") + ", " + clientAddress)
        }
        headers.add(name: "X-Forwarded-Proto", value: forwardedProto ?? "http")
        if let forwarded = forwardedHost ?? host { headers.add(name: "X-Forwarded-Host", value: forwarded) }
        headers.add(name: "X-Request-ID", value: requestID)

        var uri: String
        if !resolved.rewritesPath {
            uri = head.uri.hasPrefix("/") ? head.uri : String(path) + (query.map { "?" + $0 } ?? "")
        } else {
            uri = route.rewrite + path.dropFirst(route.prefix.utf8.count)
            if let query { uri += "?" + query }
        }
        let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: uri, headers: headers)
        let request = ProxyRequest(
            head: upstreamHead,
            upstream: resolved.upstream,
            requestID: requestID,
            responseTimeout: resolved.responseTimeout,
            hasBody: hasBody,
            isIdempotent: isIdempotent,
            allowOrigin: hasOrigin ? self.allowOrigin : nil,
            clientVersion: head.version
        )
        return .forward(request, routeLabel: routeLabel, expectsContinue: expectsContinue && hasBody)
    }
}
