import BookstoreCore
import Foundation
import HTTPTypes
import JSONKit
import Logging
import NIOCore

/// Everything the front ends share: the planner, the connection pools, the exchange settings, metrics, the error
/// envelope and the access log.
/// The metric series a connection recorded into last: its requests mostly share method, route and status, so the
/// series is found without hashing its labels.
struct RequestSeriesCache {
    var method = ""
    var route = ""
    var status = -1
    var series: HTTPRequestSeries?
}

struct GatewayProxy: Sendable {
    let planner: ProxyPlanner
    let pools: ConnectionPools
    let settings: ExchangeSettings
    let metrics: ServiceMetrics
    let renderError: ErrorRenderer
    let accessLog: Bool
    let logger: Logger
    /// How long a client connection may wait for a complete request head (see `GATEWAY_CLIENT_IDLE_TIMEOUT_MS`).
    let clientIdleTimeout: TimeAmount
    /// How long a client connection may stay unwritable while a response is sent (`GATEWAY_CLIENT_WRITE_TIMEOUT_MS`).
    let clientWriteTimeout: TimeAmount
    /// How long the rest of a request body may take after an early answer (`GATEWAY_CLIENT_DRAIN_TIMEOUT_MS`).
    let clientDrainTimeout: TimeAmount
    /// Where a SocketLoop client connection goes when a request on it is for the router (``GatewayFastPath``).
    var routerHandOff: RouterHandOff? = nil

    /// Records the request metrics (and the access-log line when enabled), as the core middleware does for routes.
    func record(
        method: String,
        path: @autoclosure () -> String,
        routeLabel: String,
        status: Int,
        duration: TimeAmount,
        requestID: @autoclosure () -> String,
        cache: inout RequestSeriesCache
    ) {
        let series: HTTPRequestSeries
        if let cached = cache.series, cache.status == status, cache.method == method, cache.route == routeLabel {
            series = cached
        } else {
            series = self.metrics.requestSeries(method: method, route: routeLabel, status: status)
            cache = RequestSeriesCache(method: method, route: routeLabel, status: status, series: series)
        }
        series.record(nanoseconds: duration.nanoseconds)
        if self.accessLog {
            let (seconds, attoseconds) = Duration.nanoseconds(duration.nanoseconds).components
            let path = path()
            self.logger.info(
                "\(method) \(path) \(status)",
                metadata: [
                    "request.id": .string(requestID()),
                    "http.request.method": .string(method),
                    "url.path": .string(path),
                    "http.route": .string(routeLabel),
                    "http.response.status_code": .stringConvertible(status),
                    "event.duration": .stringConvertible(seconds * 1_000_000_000 + attoseconds / 1_000_000_000),
                ]
            )
        }
    }

    /// The gateway's error envelope as a complete HTTP/1.1 response (head with `X-Request-ID`, `X-Gateway-Service` and
    /// the error's own headers such as `Retry-After`, then the JSON body).
    func errorResponse(_ error: APIError, requestID: String, allowOrigin: String?, connection: ResponseHead.ConnectionField) -> ByteBuffer {
        let body = self.renderError(error, requestID).bytes
        var buffer = ByteBuffer()
        buffer.reserveCapacity(body.count + 256)
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(error.status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(error.status.reasonPhrase)
        buffer.writeStaticString("\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ")
        buffer.writeString(String(body.count))
        buffer.writeStaticString("\r\nX-Request-ID: ")
        buffer.writeString(requestID)
        buffer.writeStaticString("\r\nX-Gateway-Service: bookstore-gateway\r\n")
        for field in error.headers {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        ResponseHead.writeEnd(of: &buffer, allowOrigin: allowOrigin, connection: connection)
        buffer.writeBytes(body)
        return buffer
    }
}
