import BookstoreCore
import Foundation
import HTTPTypes
import JSONKit
import Logging
import NIOCore
import NIOHTTP1

/// Everything the front ends share: the planner, the connection pools, the exchange settings, metrics, the error
/// envelope and the access log.
struct GatewayProxy: Sendable {
    let planner: ProxyPlanner
    let pools: ConnectionPools
    let settings: ExchangeSettings
    let metrics: ServiceMetrics
    let renderError: ErrorRenderer
    let accessLog: Bool
    let logger: Logger

    /// Records the request metrics (and the access-log line when enabled), as the core middleware does for routes.
    func record(method: String, path: @autoclosure () -> String, routeLabel: String, status: Int, start: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - start
        self.metrics.recordRequest(method: method, route: routeLabel, status: status, duration: duration)
        if self.accessLog {
            let (seconds, attoseconds) = duration.components
            let path = path()
            self.logger.info(
                "\(method) \(path) \(status)",
                metadata: [
                    "http.request.method": .string(method),
                    "url.path": .string(path),
                    "http.route": .string(routeLabel),
                    "http.response.status_code": .stringConvertible(status),
                    "event.duration": .stringConvertible(seconds * 1_000_000_000 + attoseconds / 1_000_000_000),
                ]
            )
        }
    }

    /// The gateway's error envelope as a complete response: head (with `X-Request-ID`, `X-Gateway-Service`, the
    /// error's own headers such as `Retry-After`) and body.
    func errorResponse(
        _ error: APIError,
        requestID: String,
        version: HTTPVersion,
        allowOrigin: String?,
        close: Bool
    ) -> (HTTPResponseHead, ByteBuffer) {
        let bytes = self.renderError(error, requestID).bytes
        var body = ByteBuffer()
        body.reserveCapacity(bytes.count)
        body.writeBytes(bytes)
        var headers = HTTPHeaders()
        headers.reserveCapacity(8 + error.headers.count)
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(bytes.count))
        headers.add(name: "X-Request-ID", value: requestID)
        headers.add(name: "X-Gateway-Service", value: "bookstore-gateway")
        for field in error.headers { headers.add(name: field.name.rawName, value: field.value) }
        if let allowOrigin {
            headers.add(name: "Access-Control-Allow-Origin", value: allowOrigin)
            if allowOrigin != "*" { headers.add(name: "Vary", value: "Origin") }
        }
        if close { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: Int(error.status.code), reasonPhrase: error.status.reasonPhrase)
        return (HTTPResponseHead(version: version, status: status, headers: headers), body)
    }
}
