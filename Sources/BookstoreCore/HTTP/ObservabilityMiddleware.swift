import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// The outermost middleware of every service: request id (honoured or created, echoed), error mapping into the
/// service's envelope, the HTTP metrics (route template, never the raw path) and one JSON access-log line.
public struct ObservabilityMiddleware: RouterMiddleware {
    public typealias Context = BookstoreRequestContext

    let metrics: ServiceMetrics
    let renderError: ErrorRenderer
    let accessLog: Bool
    /// Headers set on every response, including errors and unknown routes (e.g. the gateway's `X-Gateway-Service`).
    let responseHeaders: HTTPFields
    /// The router's routes: a known path asked with a method it does not serve answers 405 with `Allow`.
    let routes: RouteMethods?

    public init(
        metrics: ServiceMetrics,
        renderError: @escaping ErrorRenderer,
        accessLog: Bool,
        responseHeaders: HTTPFields = [:],
        routes: RouteMethods? = nil
    ) {
        self.metrics = metrics
        self.renderError = renderError
        self.accessLog = accessLog
        self.responseHeaders = responseHeaders
        self.routes = routes
    }

    public func handle(
        _ request: Request,
        context: BookstoreRequestContext,
        next: (Request, BookstoreRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let requestID = Self.acceptableRequestID(request.headers[.requestID]) ?? Self.newRequestID()
        context.requestID = requestID
        context.logger[metadataKey: "request.id"] = .string(requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = self.errorResponse(for: error, request: request, requestID: requestID, logger: context.logger)
        }
        response.headers[.requestID] = requestID
        for field in self.responseHeaders { response.headers[field.name] = field.value }
        let status = Int(response.status.code)
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        // Recorded when the response is ready, not after its body is written: wrapping the body in a closure would take
        // Hummingbird off its fast path (head, body and end in one write) and cost a second write and event-loop hop
        // per response. Every route here answers with one buffer, so the two instants differ by the write alone.
        let duration = ContinuousClock.now - start
        self.metrics.recordRequest(method: method, route: route, status: status, duration: duration)
        if self.accessLog {
            let path = request.uri.path
            let (seconds, attoseconds) = duration.components
            context.logger.info(
                "\(method) \(path) \(status)",
                metadata: [
                    "http.request.method": .string(method),
                    "url.path": .string(path),
                    "http.route": .string(route),
                    "http.response.status_code": .stringConvertible(status),
                    "event.duration": .stringConvertible(seconds * 1_000_000_000 + attoseconds / 1_000_000_000),
                ]
            )
        }
        return response
    }

    func errorResponse(for error: any Error, request: Request, requestID: String, logger: Logger) -> Response {
        let apiError: APIError
        switch error {
        case let error as APIError:
            apiError = error
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                // A known path that does not serve this method is 405; a path whose best template serves it was left
                // unmatched by the router's trie (a literal segment wins without backtracking) and stays 404.
                if let allowed = self.routes?.allowed(at: request.uri.path), !allowed.isEmpty, !allowed.contains(request.method) {
                    apiError = .methodNotAllowed(request.method, allowed: allowed)
                } else {
                    apiError = .notFound("No route for this path")
                }
            case .methodNotAllowed: apiError = APIError(status: .methodNotAllowed, message: "Method not allowed")
            case .contentTooLarge: apiError = APIError(status: .contentTooLarge, message: "Request body too large")
            default:
                apiError = APIError(
                    status: error.status,
                    message: error.status.code < 500 ? (error.body ?? error.status.reasonPhrase) : "Internal server error"
                )
            }
        case let error as DependencyError:
            logger.warning("Dependency unavailable", metadata: ["dependency": .string(error.dependency), "error.type": .string(error.underlying)])
            apiError = .unavailable("The \(error.dependency) is temporarily unavailable, retry later", retryAfterSeconds: 5)
        case let error as any HTTPResponseError where error.status.code < 500:
            apiError = APIError(status: error.status, message: error.status.reasonPhrase)
        default:
            logger.error("Unhandled error", metadata: ["error.type": .string(String(describing: type(of: error)))])
            apiError = .unexpected
        }
        return Response.json(self.renderError(apiError, requestID), status: apiError.status, headers: apiError.headers)
    }

    /// Per-process random keys of ``newRequestID()``.
    private static let requestIDKeys = (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
    private static let requestIDCounter = Atomic<UInt64>(0)

    /// A new request id: a lowercase UUID (version 4 layout) from a per-process random key and a counter, mixed with
    /// SplitMix64 — unique within the process, unpredictable across processes, and with no system call (`UUID()` opens
    /// and reads `/dev/urandom` on every call on Linux).
    static func newRequestID() -> String {
        let count = Self.requestIDCounter.add(1, ordering: .relaxed).newValue
        let high = Self.splitMix(Self.requestIDKeys.0 &+ count)
        let low = Self.splitMix(Self.requestIDKeys.1 ^ count)
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { bytes in
            for position in 0..<16 {
                bytes[position] = UInt8(truncatingIfNeeded: (position < 8 ? high : low) >> UInt64(56 - 8 * (position % 8)))
            }
            bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
            bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        }
        return UUID(uuid: uuid).lowercasedText
    }

    private static func splitMix(_ value: UInt64) -> UInt64 {
        var mixed = value &+ 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// An incoming request id is kept when it is 1–128 visible ASCII characters.
    static func acceptableRequestID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return value
    }
}
