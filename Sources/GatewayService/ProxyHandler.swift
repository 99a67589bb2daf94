import AsyncHTTPClient
import BookstoreCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Forwards a request to its upstream with streamed bodies, and maps upstream failures to the gateway envelope.
struct ProxyHandler: Sendable {
    let table: RouteTable
    let upstreams: [String: Upstream]
    let client: HTTPClient
    let tokens: TokenService
    let readTimeout: TimeAmount

    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length",
    ]

    func handle(_ request: Request, context: BookstoreRequestContext) async throws -> Response {
        let path = request.uri.path
        guard let (route, upstreamPath) = self.table.resolve(path), let upstream = self.upstreams[route.upstream] else {
            throw APIError.notFound("No route for \(path)")
        }
        if route.needsToken(method: request.method) {
            _ = try await self.tokens.authenticate(request)
        }
        var target = upstreamPath
        if let query = request.uri.query, !query.isEmpty { target += "?" + query }

        let hasBody = request.headers[.contentLength].map { $0 != "0" } ?? (request.headers[.transferEncoding] != nil)
        let replayable = !hasBody && [.get, .head, .options, .delete].contains(request.method)
        let order = upstream.attemptOrder()
        var lastError: (any Error)?
        for (attempt, replica) in order.enumerated() {
            if attempt > 0 && !replayable { break }
            do {
                let upstreamResponse = try await self.client.execute(
                    self.upstreamRequest(request, context: context, url: replica + target, hasBody: hasBody),
                    timeout: self.readTimeout
                )
                return self.response(from: upstreamResponse, requestID: context.requestID)
            } catch let error where Self.isConnectFailure(error) {
                lastError = error
                context.logger.warning(
                    "Upstream replica unreachable",
                    metadata: ["upstream.name": .string(upstream.name), "upstream.address": .string(replica)]
                )
                continue
            } catch {
                throw Self.apiError(for: error, upstream: upstream.name)
            }
        }
        throw Self.apiError(for: lastError ?? HTTPClientError.connectTimeout, upstream: upstream.name)
    }

    func upstreamRequest(_ request: Request, context: BookstoreRequestContext, url: String, hasBody: Bool) -> HTTPClientRequest {
        var upstreamRequest = HTTPClientRequest(url: url)
        upstreamRequest.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            upstreamRequest.headers.add(name: field.name.rawName, value: field.value)
        }
        upstreamRequest.headers.replaceOrAdd(name: "X-Request-ID", value: context.requestID)
        let client = context.remoteAddress ?? "unknown"
        if let existing = request.headers[.forwardedFor] {
            upstreamRequest.headers.replaceOrAdd(name: "X-Forwarded-For", value: existing + ", " + client)
        } else {
            upstreamRequest.headers.replaceOrAdd(name: "X-Forwarded-For", value: client)
        }
        upstreamRequest.headers.replaceOrAdd(name: "X-Forwarded-Proto", value: request.headers[.forwardedProto] ?? "http")
        if let host = request.head.authority {
            upstreamRequest.headers.replaceOrAdd(name: "X-Forwarded-Host", value: host)
        }
        if hasBody {
            let length = request.headers[.contentLength].flatMap(Int.init)
            upstreamRequest.body = .stream(request.body, length: length.map { .known(Int64($0)) } ?? .unknown)
        }
        return upstreamRequest
    }

    func response(from upstream: HTTPClientResponse, requestID: String) -> Response {
        var headers = HTTPFields()
        for (name, value) in upstream.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        if let length = upstream.headers.first(name: "content-length") { headers[.contentLength] = length }
        headers[.gatewayService] = "bookstore-gateway"
        headers[.requestID] = requestID
        return Response(
            status: HTTPResponse.Status(code: Int(upstream.status.code), reasonPhrase: upstream.status.reasonPhrase),
            headers: headers,
            body: ResponseBody(asyncSequence: upstream.body)
        )
    }

    static func isConnectFailure(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError, [ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) { return true }
        return String(describing: error).contains("connectionRefused") || String(describing: error).contains("connectTimeout")
    }

    static func apiError(for error: any Error, upstream: String) -> APIError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return APIError(status: .gatewayTimeout, message: "Upstream \(upstream) timed out")
        }
        if isConnectFailure(error) {
            return APIError(status: .serviceUnavailable, message: "No replica of \(upstream) is reachable")
        }
        return APIError(status: .badGateway, message: "Upstream \(upstream) failed")
    }
}
