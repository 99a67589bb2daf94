import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit

/// The Python (Flask-style) flavour's JSON: snake_case payments and the `{status, message, timestamp, data,
/// errors?}` envelope, where `status` is `success`, `validation_error` (400), `not_found` (404), `unauthorized`
/// (401), `forbidden` (403) or `error`, `data` is always present and `errors` (`[{field, message}]`) only
/// accompanies `validation_error`.
enum PythonFormat {
    /// A payment with every member, absent values as null.
    static func payment(_ payment: Payment) -> JSON {
        [
            "payment_id": .string(payment.paymentID),
            "order_id": .string(payment.orderID),
            "user_id": .string(payment.userID),
            "amount": payment.amount.json,
            "currency": .string(payment.currency.rawValue),
            "payment_method": .string(payment.method.rawValue),
            "status": .string(payment.status.rawValue),
            "transaction_id": .optional(payment.transactionID),
            "message": .string(payment.message),
            "book_id": .optional(payment.bookID),
            "created_at": .string(Timestamp.iso8601(payment.createdAt)),
            "updated_at": .string(Timestamp.iso8601(payment.updatedAt)),
            "refunded_at": .optional(payment.refundedAt.map(Timestamp.iso8601)),
        ]
    }

    /// The envelope status for an HTTP status.
    static func envelopeStatus(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 200..<300: "success"
        case 400: "validation_error"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        default: "error"
        }
    }

    static func envelope(status: HTTPResponse.Status, message: String, data: JSON, errors: [FieldError]? = nil) -> JSON {
        var object: JSONObject = [
            "status": .string(self.envelopeStatus(for: status)),
            "message": .string(message),
            "timestamp": .string(Timestamp.iso8601(Date())),
            "data": data,
        ]
        if let errors {
            object["errors"] = .array(errors.map { ["field": .string($0.field), "message": .string($0.message)] })
        }
        return .object(object)
    }

    /// A response in the envelope.
    static func response(_ status: HTTPResponse.Status = .ok, message: String, data: JSON, headers: HTTPFields = [:]) -> Response {
        Response.json(self.envelope(status: status, message: message, data: data), status: status, headers: headers)
    }

    /// Renders every error in the envelope; a 400 always lists its problems (a malformed body as field `body`).
    static let renderError: ErrorRenderer = { error, _ in
        var errors: [FieldError]?
        if error.status == .badRequest {
            errors = error.fieldErrors.isEmpty ? [FieldError(field: "body", message: error.message)] : error.fieldErrors
        }
        return PythonFormat.envelope(status: error.status, message: error.message, data: error.data ?? .null, errors: errors)
    }
}
