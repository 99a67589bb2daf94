import BookstoreCore
import HTTPTypes
import HTTPWire
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
    let prefixLength: Int
    let rewrite: String
    let rewritesPath: Bool
    let requiresToken: Bool
    let publicMethods: Set<String>?
    /// `publicMethods` as a list (a handful of short strings: compared without hashing).
    private let publicMethodList: [String]?

    init(route: GatewayRoute, upstream: Upstream, responseTimeout: TimeAmount) {
        self.route = route
        self.upstream = upstream
        self.exactLabel = route.prefix
        self.wildcardLabel = route.prefix + "/**"
        self.responseTimeout = responseTimeout
        self.prefix = Array(route.prefix.utf8)
        self.prefixLength = route.prefix.utf8.count
        self.rewrite = route.rewrite
        self.rewritesPath = route.rewrite != route.prefix
        self.requiresToken = route.requiresToken
        self.publicMethods = route.publicMethods
        self.publicMethodList = route.publicMethods.map { Array($0) }
    }

    /// Whether a request with `method` must carry a valid token at the edge (see ``GatewayRoute/needsToken(method:)``).
    func needsToken(method: String) -> Bool {
        guard self.requiresToken, method != "OPTIONS" else { return false }
        if let publicMethodList, publicMethodList.contains(method) { return false }
        return true
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
/// headers stripped. It works on the request's bytes: forwarded field lines are copied as they came.
///
/// The client is the TCP peer, unless the peer is one of `trustedProxies`: then it is the `X-Forwarded-For` hop they
/// vouch for (``TrustedProxies``). Upstream, `X-Forwarded-For` is the incoming chain plus the peer when the peer is
/// trusted, and only the peer otherwise, so the services behind the gateway can rely on it.
struct ProxyPlanner: Sendable {
    let routes: [ResolvedRoute]
    let tokens: TokenService
    let limiter: RateLimiter?
    /// The peers whose `X-Forwarded-For` is believed and forwarded (`GATEWAY_TRUSTED_PROXIES`).
    let trustedProxies: TrustedProxies
    let maxBodyBytes: Int
    /// `Access-Control-Allow-Origin` for requests with an `Origin`.
    let allowOrigin: String

    init(
        routes: [ResolvedRoute],
        tokens: TokenService,
        limiter: RateLimiter?,
        trustedProxies: TrustedProxies = .none,
        maxBodyBytes: Int,
        allowOrigin: String
    ) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
        self.tokens = tokens
        self.limiter = limiter
        self.trustedProxies = trustedProxies
        self.maxBodyBytes = maxBodyBytes
        self.allowOrigin = allowOrigin
    }

    /// GET, HEAD, OPTIONS, PUT and DELETE may be sent twice (RFC 9110 §9.2.2).
    static func isIdempotent(_ method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "PUT", "DELETE": true
        default: false
        }
    }

    /// The path of a request target (origin form, or absolute form from a proxy-aware client), without the query.
    static func splitTarget(_ uri: String) -> (path: Substring, query: Substring?) {
        var target = Substring(uri)
        if target.utf8.first != UInt8(ascii: "/"), target.lowercased().hasPrefix("http://") {
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
        let mayHave =
            path.utf8.withContiguousStorageIfAvailable { bytes in
                bytes.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }
            } ?? path.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }
        guard mayHave else { return false }
        let dotSegments: Set<String> = [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) where segment.utf8.count <= 6 {
            if dotSegments.contains(segment.lowercased()) { return true }
        }
        return false
    }

    /// Whether a request is for the gateway's router rather than an upstream: CORS preflights, unknown paths.
    func isProxied(_ head: MessageHead, target: String) -> Bool {
        !Self.isPreflight(head) && self.route(for: Self.splitTarget(target).path) != nil
    }

    private static func isPreflight(_ head: MessageHead) -> Bool {
        head.bytes.withUnsafeReadableBytes { MessageHead.equals($0, head.first, "options") } && head.contains("access-control-request-method")
    }

    /// ``plan(_:target:clientAddress:requestIDs:)`` for a request that ``isProxied(_:target:)``; nil for the others
    /// (the router's), which are left untouched (no request id is taken). The route is looked up once.
    func planIfProxied(
        _ head: MessageHead,
        method: String,
        target: String,
        clientAddress: String,
        requestIDs: inout RequestIDGenerator,
        headBuffer: inout ReusableBuffer
    ) -> ProxyPlan? {
        guard !Self.isPreflight(head) else { return nil }
        let (path, query) = Self.splitTarget(target)
        guard let route = self.route(for: path) else { return nil }
        return self.plan(
            head,
            method: method,
            target: target,
            path: path,
            query: query,
            route: route,
            clientAddress: clientAddress,
            requestIDs: &requestIDs,
            headBuffer: &headBuffer
        )
    }

    /// Decides what to do with a request.
    /// - Parameters:
    ///   - head: the request head as received.
    ///   - target: its request target (`head.target`, when the caller has it already).
    ///   - clientAddress: the peer's IP address.
    ///   - requestIDs: the id generator of the connection.
    func plan(_ head: MessageHead, target: String? = nil, clientAddress: String, requestIDs: inout RequestIDGenerator) -> ProxyPlan {
        let target = target ?? head.target
        let (path, query) = Self.splitTarget(target)
        var headBuffer = ReusableBuffer()
        return self.plan(
            head,
            method: head.method,
            target: target,
            path: path,
            query: query,
            route: self.route(for: path),
            clientAddress: clientAddress,
            requestIDs: &requestIDs,
            headBuffer: &headBuffer
        )
    }

    private func plan(
        _ head: MessageHead,
        method: String,
        target: String,
        path: Substring,
        query: Substring?,
        route: (route: ResolvedRoute, isExact: Bool)?,
        clientAddress: String,
        requestIDs: inout RequestIDGenerator,
        headBuffer: inout ReusableBuffer
    ) -> ProxyPlan {
        // First pass: the fields the gateway reads or replaces.
        var requestID: String?
        var authorization: String?
        var forwardedFor: String?
        var forwardedProto: String?
        var forwardedHost: String?
        var host: String?
        var expectsContinue = false
        var hasOrigin = false
        var hasIdempotencyKey = false
        // The X-Forwarded-For of an untrusted peer is not read: it is neither believed nor forwarded.
        let trustsPeer = self.trustedProxies.contains(clientAddress)
        head.bytes.withUnsafeReadableBytes { bytes in
            for index in 0..<head.fieldCount {
                switch Self.disposition(bytes, head.nameRange(index)) {
                case .forward, .drop:
                    break
                case .forwardAndRead(let field):
                    switch field {
                    case .authorization: authorization = head.value(index)
                    case .origin: hasOrigin = true
                    case .idempotencyKey: hasIdempotencyKey = true
                    }
                case .replace(let field):
                    switch field {
                    case .requestID: if requestID == nil { requestID = head.value(index) }
                    case .forwardedFor:
                        if trustsPeer { forwardedFor = forwardedFor.map { $0 + ", " + head.value(index) } ?? head.value(index) }
                    case .forwardedProto: if forwardedProto == nil { forwardedProto = head.value(index) }
                    case .forwardedHost: if forwardedHost == nil { forwardedHost = head.value(index) }
                    case .host: if host == nil { host = head.value(index) }
                    case .expect: expectsContinue = head.value(index).equalsIgnoringASCIICase("100-continue")
                    }
                }
            }
        }
        let id = requestID.flatMap { RequestIDGenerator.isAcceptable($0) ? $0 : nil } ?? requestIDs.next()
        guard let (resolved, isExact) = route else {
            return .reject(.notFound("No route for \(path)"), requestID: id, routeLabel: "unmatched", closeConnection: false)
        }
        let routeLabel = isExact ? resolved.exactLabel : resolved.wildcardLabel
        func reject(_ error: APIError, close: Bool = false) -> ProxyPlan {
            .reject(error, requestID: id, routeLabel: routeLabel, closeConnection: close)
        }
        guard !Self.hasDotSegment(path) else { return reject(.badRequest("Invalid path")) }

        // Rate limit by client: the peer, or behind trusted proxies (an ingress) the X-Forwarded-For hop they vouch for.
        if let limiter = self.limiter {
            let client = trustsPeer ? self.trustedProxies.clientAddress(peer: clientAddress, forwardedFor: forwardedFor) : clientAddress
            if let wait = limiter.acquire(client) { return reject(.tooManyRequests(retryAfterSeconds: wait)) }
        }

        if resolved.needsToken(method: method) {
            guard let authorization, authorization.utf8.count > 7, authorization.prefix(7).equalsIgnoringASCIICase("bearer ") else {
                return reject(.unauthorized("Missing or invalid Authorization header"))
            }
            do {
                _ = try self.tokens.verify(String(authorization.dropFirst(7).trimmingASCIISpaces()))
            } catch {
                return reject(error)
            }
        }
        let framing: BodyFramer.Framing
        if head.isChunked {
            framing = .chunked
        } else if let length = head.contentLength, length > 0 {
            if length > self.maxBodyBytes { return reject(.payloadTooLarge(limit: self.maxBodyBytes), close: true) }
            framing = .length(length)
        } else {
            framing = .none
        }

        // The upstream head: request line, the fields as they came (minus hop-by-hop ones), framing, forwarding
        // fields. `Host` is added per replica.
        let isOriginForm = target.utf8.first == UInt8(ascii: "/")
        let uri: Substring
        if !resolved.rewritesPath {
            uri = isOriginForm ? target[...] : path
        } else {
            uri = (resolved.rewrite + path.dropFirst(resolved.prefixLength))[...]
        }
        let writesQuery = !isOriginForm || resolved.rewritesPath
        let forwardedHostValue = forwardedHost ?? host
        // At most: the request line, the field lines received, framing and the forwarding fields (fixed text < 192).
        var capacity = method.utf8.count + uri.utf8.count + (query?.utf8.count ?? 0) + head.bytes.readableBytes + 192
        capacity += (forwardedFor?.utf8.count ?? 0) + clientAddress.utf8.count + (forwardedProto?.utf8.count ?? 4)
        capacity += (forwardedHostValue?.utf8.count ?? 0) + id.utf8.count
        let listed = head.connectionListsFields ? Self.connectionListedNames(head) : nil
        var prefix = headBuffer.take(minimumCapacity: capacity)
        HeadWriter.append(to: &prefix, capacity: capacity) { writer in
            writer.write(method)
            writer.writeStatic(" ")
            writer.write(uri)
            if writesQuery, let query {
                writer.writeStatic("?")
                writer.write(query)
            }
            writer.writeStatic(" HTTP/1.1\r\n")
            head.bytes.withUnsafeReadableBytes { bytes in
                // Field lines are contiguous: each run of forwarded lines is copied at once.
                var run = 0..<0
                for index in 0..<head.fieldCount {
                    switch Self.disposition(bytes, head.nameRange(index)) {
                    case .forward:
                        if let listed, listed.contains(head.name(index).lowercased()) { continue }
                    case .forwardAndRead:
                        // Never stripped through `Connection`: the replica sees what the gateway decided on.
                        break
                    case .replace, .drop:
                        continue
                    }
                    let line = head.lineRange(index)
                    if !run.isEmpty, run.upperBound == line.lowerBound {
                        run = run.lowerBound..<line.upperBound
                    } else {
                        writer.write(UnsafeRawBufferPointer(rebasing: bytes[run]))
                        run = line
                    }
                }
                writer.write(UnsafeRawBufferPointer(rebasing: bytes[run]))
            }
            switch framing {
            case .chunked:
                writer.writeStatic("Transfer-Encoding: chunked\r\n")
            case .length(let length):
                writer.writeStatic("Content-Length: ")
                writer.write(String(length))
                writer.writeStatic("\r\n")
            case .none, .untilClose:
                break
            }
            // The chain of a trusted peer (nil otherwise), then the peer.
            writer.writeStatic("X-Forwarded-For: ")
            if let forwardedFor {
                writer.write(forwardedFor)
                writer.writeStatic(", ")
            }
            writer.write(clientAddress)
            writer.writeStatic("\r\nX-Forwarded-Proto: ")
            writer.write(forwardedProto ?? "http")
            if let forwardedHostValue {
                writer.writeStatic("\r\nX-Forwarded-Host: ")
                writer.write(forwardedHostValue)
            }
            writer.writeStatic("\r\nX-Request-ID: ")
            writer.write(id)
            writer.writeStatic("\r\n")
        }
        // Kept for the next request's head: by then this request and its exchange are usually gone (no allocation);
        // the head is never written to again, so sharing it until then changes nothing.
        headBuffer.keep(prefix)

        let request = ProxyRequest(
            method: method,
            head: prefix,
            framing: framing,
            upstream: resolved.upstream,
            requestID: id,
            responseTimeout: resolved.responseTimeout,
            isIdempotent: Self.isIdempotent(method) || hasIdempotencyKey,
            allowOrigin: hasOrigin ? self.allowOrigin : nil,
            clientVersionMinor: head.versionMinor
        )
        return .forward(request, routeLabel: routeLabel, expectsContinue: expectsContinue && framing != .none)
    }

    // MARK: Field handling

    enum ReadField {
        case authorization
        case origin
        case idempotencyKey
    }

    enum ReplacedField {
        case requestID
        case forwardedFor
        case forwardedProto
        case forwardedHost
        case host
        case expect
    }

    enum Disposition {
        case forward
        /// Forwarded, and read on the way. The gateway decides on these (the token checked at the edge, the CORS
        /// origin, the `Idempotency-Key` that makes a request retryable), so they are forwarded even when the client's
        /// `Connection` field lists them as hop-by-hop: a retried request keeps its key.
        case forwardAndRead(ReadField)
        /// Read, and not forwarded as it came (the gateway writes its own).
        case replace(ReplacedField)
        /// Hop-by-hop or framing: not forwarded.
        case drop
    }

    /// What to do with a request field: hop-by-hop fields (RFC 9110 §7.6.1) and framing are dropped (the gateway sets
    /// the framing), the forwarding and request-id fields are replaced, a few are read on the way.
    static func disposition(_ bytes: UnsafeRawBufferPointer, _ name: Range<Int>) -> Disposition {
        switch name.count {
        case 2: return MessageHead.equals(bytes, name, "te") ? .drop : .forward
        case 4: return MessageHead.equals(bytes, name, "host") ? .replace(.host) : .forward
        case 6:
            if MessageHead.equals(bytes, name, "expect") { return .replace(.expect) }
            return MessageHead.equals(bytes, name, "origin") ? .forwardAndRead(.origin) : .forward
        case 7: return MessageHead.equals(bytes, name, "trailer") || MessageHead.equals(bytes, name, "upgrade") ? .drop : .forward
        case 8: return MessageHead.equals(bytes, name, "trailers") ? .drop : .forward
        case 10: return MessageHead.equals(bytes, name, "connection") || MessageHead.equals(bytes, name, "keep-alive") ? .drop : .forward
        case 12: return MessageHead.equals(bytes, name, "x-request-id") ? .replace(.requestID) : .forward
        case 13: return MessageHead.equals(bytes, name, "authorization") ? .forwardAndRead(.authorization) : .forward
        case 14: return MessageHead.equals(bytes, name, "content-length") ? .drop : .forward
        case 15:
            if MessageHead.equals(bytes, name, "x-forwarded-for") { return .replace(.forwardedFor) }
            return MessageHead.equals(bytes, name, "idempotency-key") ? .forwardAndRead(.idempotencyKey) : .forward
        case 16:
            if MessageHead.equals(bytes, name, "x-forwarded-host") { return .replace(.forwardedHost) }
            return MessageHead.equals(bytes, name, "proxy-connection") ? .drop : .forward
        case 17:
            if MessageHead.equals(bytes, name, "x-forwarded-proto") { return .replace(.forwardedProto) }
            return MessageHead.equals(bytes, name, "transfer-encoding") ? .drop : .forward
        case 18: return MessageHead.equals(bytes, name, "proxy-authenticate") ? .drop : .forward
        case 19: return MessageHead.equals(bytes, name, "proxy-authorization") ? .drop : .forward
        default: return .forward
        }
    }

    /// The lowercased names a message's `Connection` fields list (other than close / keep-alive).
    static func connectionListedNames(_ head: MessageHead) -> Set<String> {
        var names = Set<String>()
        head.bytes.withUnsafeReadableBytes { bytes in
            for index in 0..<head.fieldCount where head.fieldIs(index, "connection") {
                MessageHead.forEachToken(bytes, head.valueRange(index)) { token in
                    if !MessageHead.equals(bytes, token, "close"), !MessageHead.equals(bytes, token, "keep-alive") {
                        names.insert(head.string(token).lowercased())
                    }
                }
            }
        }
        return names
    }
}
