import HTTPTypes
import Hummingbird
import JSONKit

/// One invalid field of a request, with a message safe to show to the client.
public struct FieldError: Sendable, Equatable {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// An expected failure at the HTTP boundary. The error middleware renders it in the service's envelope;
/// nothing else ever reaches a client (no driver text, no stack trace).
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var fieldErrors: [FieldError]
    /// Extra response headers (e.g. `Retry-After`).
    public var headers: HTTPFields
    /// Data some envelopes carry with an error (a declined payment, `{"valid": false}`).
    public var data: JSON?

    public init(
        status: HTTPResponse.Status,
        message: String,
        fieldErrors: [FieldError] = [],
        headers: HTTPFields = [:],
        data: JSON? = nil
    ) {
        self.status = status
        self.message = message
        self.fieldErrors = fieldErrors
        self.headers = headers
        self.data = data
    }

    public static func badRequest(_ message: String) -> APIError { .init(status: .badRequest, message: message) }

    /// A validation failure; the message names the first invalid field.
    public static func validation(_ errors: [FieldError]) -> APIError {
        let message = errors.first.map(\.message) ?? "Validation failed"
        return .init(status: .badRequest, message: message, fieldErrors: errors)
    }

    public static func unauthorized(_ message: String = "Authentication required") -> APIError {
        .init(status: .unauthorized, message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    public static func forbidden(_ message: String = "Access denied") -> APIError { .init(status: .forbidden, message: message) }
    public static func notFound(_ message: String = "Not found") -> APIError { .init(status: .notFound, message: message) }
    public static func conflict(_ message: String) -> APIError { .init(status: .conflict, message: message) }

    /// 405 for a method the path does not serve, with the `Allow` header RFC 9110 requires.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let list = RouteMethods.allowHeader(allowed)
        return .init(status: .methodNotAllowed, message: "Method \(method.rawValue) is not allowed here; allowed: \(list)", headers: [.allow: list])
    }

    public static func payloadTooLarge(limit: Int) -> APIError {
        .init(status: .contentTooLarge, message: "Request body exceeds the limit of \(limit) bytes")
    }

    public static func tooManyRequests(retryAfterSeconds: Int) -> APIError {
        .init(
            status: .tooManyRequests,
            message: "Too many requests, retry after \(retryAfterSeconds) s",
            headers: [.retryAfter: String(retryAfterSeconds)]
        )
    }

    public static func unavailable(_ message: String) -> APIError { .init(status: .serviceUnavailable, message: message) }
    public static func unavailable(_ message: String, retryAfterSeconds: Int) -> APIError {
        .init(status: .serviceUnavailable, message: message, headers: [.retryAfter: String(retryAfterSeconds)])
    }

    public static let unexpected = APIError(status: .internalServerError, message: "Internal server error")
}

/// Renders an ``APIError`` as the body of the service's own error envelope. The second argument is the request id.
public typealias ErrorRenderer = @Sendable (APIError, String) -> JSON
