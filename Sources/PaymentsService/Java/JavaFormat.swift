import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit

/// The Java (Spring Boot-style) flavour's JSON: camelCase payments with upper-case enums and the `ApiResponse`
/// envelope `{status:"success"|"error", message, data?, errors?:[string], timestamp}`, nulls omitted.
enum JavaFormat {
    /// An enum value as Java writes it: `COMPLETED`, `CREDIT_CARD`.
    static func name(_ status: PaymentStatus) -> String { status.rawValue.uppercased() }
    static func name(_ method: PaymentMethod) -> String { method.rawValue.uppercased() }

    /// A payment, absent values omitted.
    static func payment(_ payment: Payment) -> JSON {
        var object: JSONObject = [
            "paymentId": .string(payment.paymentID),
            "orderId": .string(payment.orderID),
            "userId": .string(payment.userID),
            "amount": payment.amount.json,
            "currency": .string(payment.currency.rawValue),
            "paymentMethod": .string(self.name(payment.method)),
            "status": .string(self.name(payment.status)),
        ]
        if let transactionID = payment.transactionID { object["transactionId"] = .string(transactionID) }
        object["message"] = .string(payment.message)
        if let bookID = payment.bookID { object["bookId"] = .string(bookID) }
        object["createdAt"] = .string(Timestamp.iso8601(payment.createdAt))
        object["updatedAt"] = .string(Timestamp.iso8601(payment.updatedAt))
        if let refundedAt = payment.refundedAt { object["refundedAt"] = .string(Timestamp.iso8601(refundedAt)) }
        return .object(object)
    }

    static func envelope(success: Bool, message: String, data: JSON?, errors: [String]? = nil) -> JSON {
        var object: JSONObject = ["status": .string(success ? "success" : "error"), "message": .string(message)]
        if let data { object["data"] = data }
        if let errors, !errors.isEmpty { object["errors"] = .array(errors.map(JSON.string)) }
        object["timestamp"] = .string(Timestamp.iso8601(Date()))
        return .object(object)
    }

    /// A response in the envelope; 2xx statuses are `success`, others `error`.
    static func response(_ status: HTTPResponse.Status = .ok, message: String, data: JSON?, headers: HTTPFields = [:]) -> Response {
        Response.json(
            self.envelope(success: (200..<300).contains(status.code), message: message, data: data),
            status: status,
            headers: headers
        )
    }

    /// Renders every error as an `ApiResponse` with `status:"error"`, field problems as `errors` messages.
    static let renderError: ErrorRenderer = { error, _ in
        JavaFormat.envelope(success: false, message: error.message, data: error.data, errors: error.fieldErrors.map(\.message))
    }
}
