import BookstoreCore
import BookstoreMongo
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// The Python (Flask-style) flavour (SPEC §4.3): port 5000, snake_case payments and the `{status, message,
/// timestamp, data, errors?}` envelope, where `status` is `success`, `validation_error` (400), `not_found` (404),
/// `unauthorized` (401), `forbidden` (403) or `error`, `data` is always present and `errors` (`[{field, message}]`)
/// only accompanies `validation_error`. Health under `/api/health`; stores payments in MongoDB.
struct PythonFlavour: PaymentFlavour {
    var name: String { "python" }
    var defaultPort: Int { 5000 }
    var consumesPaymentRequestsByDefault: Bool { true }

    var fields: PaymentFields { .snakeCase }
    var paymentIDParameter: String { "payment_id" }
    var createdStatus: HTTPResponse.Status { .ok }

    func requestObject(_ object: JSONObject) -> JSONObject { object }

    /// A payment with every member, absent values as null.
    func payment(_ payment: Payment) -> JSON {
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

    /// `{payment_id, status:"refunded", refunded_at}`.
    func refundData(_ payment: Payment) -> JSON {
        [
            "payment_id": .string(payment.paymentID),
            "status": .string(payment.status.rawValue),
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

    func envelope(_ status: HTTPResponse.Status, message: String, data: JSON) -> JSON {
        Self.envelope(status: status, message: message, data: data)
    }

    /// Renders every error in the envelope; a 400 always lists its problems (a malformed body as field `body`).
    var renderError: ErrorRenderer {
        { error, _ in
            var errors: [FieldError]?
            if error.status == .badRequest {
                errors = error.fieldErrors.isEmpty ? [FieldError(field: "body", message: error.message)] : error.fieldErrors
            }
            return PythonFlavour.envelope(status: error.status, message: error.message, data: error.data ?? .null, errors: errors)
        }
    }

    /// `{event_type, service, timestamp, data:{payment}}`.
    func eventPayload(for payment: Payment, routingKey: String, serviceName: String, at date: Date) -> JSON {
        [
            "event_type": .string(routingKey),
            "service": .string(serviceName),
            "timestamp": .string(Timestamp.iso8601(date)),
            "data": self.payment(payment),
        ]
    }

    /// Health under `/api/health`.
    func makeRouter(_ scaffold: ServiceScaffold) -> ServiceRouter {
        let router = scaffold.makeRouter()
        router.addHealthRoutes(
            base: "/api/health",
            serviceName: scaffold.common.serviceName,
            version: scaffold.common.version,
            readiness: scaffold.readiness
        )
        return router
    }

    /// `mongodb` (or `mongo`): `payment_db.payments` unless `MONGO_DB` says.
    func makeRepository(storage: String, settings: Settings, logger: Logger) throws(ConfigurationError) -> PaymentStorage? {
        guard storage == "mongodb" || storage == "mongo" else { return nil }
        let mongoSettings: MongoSettings
        do {
            mongoSettings = try MongoSettings(settings: settings, defaultDatabase: "payment_db")
        } catch {
            throw ConfigurationError("STORAGE=\(storage): \(error.description)")
        }
        let store = try MongoStore(settings: mongoSettings, indexes: MongoPaymentRepository.indexes, logger: logger)
        return (MongoPaymentRepository(store: store), [store])
    }
}
