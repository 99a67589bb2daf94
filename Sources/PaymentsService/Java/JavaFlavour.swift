import BookstoreCore
import BookstorePostgres
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// The Java (Spring Boot-style) flavour (SPEC §4.4): port 8082, camelCase payments with upper-case enums and the
/// `ApiResponse` envelope `{status:"success"|"error", message, data?, errors?:[string], timestamp}`, nulls omitted.
/// Request bodies use camelCase names; the snake_case spellings are accepted too. Actuator health, info and
/// Prometheus endpoints; stores payments in PostgreSQL.
struct JavaFlavour: PaymentFlavour {
    var name: String { "java" }
    var defaultPort: Int { 8082 }
    var consumesPaymentRequestsByDefault: Bool { false }

    var fields: PaymentFields { .camelCase }
    var paymentIDParameter: String { "paymentId" }
    var createdStatus: HTTPResponse.Status { .created }

    func requestObject(_ object: JSONObject) -> JSONObject {
        PaymentFields.camelCase.aliasing(object, from: .snakeCase)
    }

    /// An enum value as Java writes it: `COMPLETED`, `CREDIT_CARD`.
    static func name(_ status: PaymentStatus) -> String { status.rawValue.uppercased() }
    static func name(_ method: PaymentMethod) -> String { method.rawValue.uppercased() }

    /// A payment, absent values omitted.
    func payment(_ payment: Payment) -> JSON {
        var object: JSONObject = [
            "paymentId": .string(payment.paymentID),
            "orderId": .string(payment.orderID),
            "userId": .string(payment.userID),
            "amount": payment.amount.json,
            "currency": .string(payment.currency.rawValue),
            "paymentMethod": .string(Self.name(payment.method)),
            "status": .string(Self.name(payment.status)),
        ]
        if let transactionID = payment.transactionID { object["transactionId"] = .string(transactionID) }
        object["message"] = .string(payment.message)
        if let bookID = payment.bookID { object["bookId"] = .string(bookID) }
        object["createdAt"] = .string(Timestamp.iso8601(payment.createdAt))
        object["updatedAt"] = .string(Timestamp.iso8601(payment.updatedAt))
        if let refundedAt = payment.refundedAt { object["refundedAt"] = .string(Timestamp.iso8601(refundedAt)) }
        return .object(object)
    }

    /// The refunded payment.
    func refundData(_ payment: Payment) -> JSON { self.payment(payment) }

    static func envelope(success: Bool, message: String, data: JSON?, errors: [String]? = nil) -> JSON {
        var object: JSONObject = ["status": .string(success ? "success" : "error"), "message": .string(message)]
        if let data { object["data"] = data }
        if let errors, !errors.isEmpty { object["errors"] = .array(errors.map(JSON.string)) }
        object["timestamp"] = .string(Timestamp.iso8601(Date()))
        return .object(object)
    }

    /// 2xx statuses are `success`, others `error`.
    func envelope(_ status: HTTPResponse.Status, message: String, data: JSON) -> JSON {
        Self.envelope(success: (200..<300).contains(status.code), message: message, data: data)
    }

    /// Renders every error as an `ApiResponse` with `status:"error"`, field problems as `errors` messages.
    var renderError: ErrorRenderer {
        { error, _ in
            JavaFlavour.envelope(success: false, message: error.message, data: error.data, errors: error.fieldErrors.map(\.message))
        }
    }

    /// `{eventType, service, paymentId, orderId, userId, amount, currency, status, transactionId, message, bookId,
    /// timestamp}` without null members: the payment's members but its method and dates.
    func eventPayload(for payment: Payment, routingKey: String, serviceName: String, at date: Date) -> JSON {
        var object: JSONObject = ["eventType": .string(routingKey), "service": .string(serviceName)]
        let omitted: Set = ["paymentMethod", "createdAt", "updatedAt", "refundedAt"]
        for (key, value) in self.payment(payment).objectValue ?? [:] where !omitted.contains(key) { object[key] = value }
        object["timestamp"] = .string(Timestamp.iso8601(date))
        return .object(object)
    }

    /// Actuator health (`/actuator/health`, `…/liveness`, `…/readiness`), `/actuator/info` and
    /// `/actuator/prometheus` besides `/metrics`.
    func makeRouter(_ scaffold: ServiceScaffold) -> ServiceRouter {
        let router = scaffold.makeRouter(extraMetricsPaths: ["/actuator/prometheus"])
        router.addActuatorHealthRoutes(readiness: scaffold.readiness)
        let info: JSON = ["app": ["name": .string(scaffold.common.serviceName), "version": .string(scaffold.common.version)]]
        router.get("/actuator/info") { _, _ in Response.json(info) }
        return router
    }

    /// `postgres` (or `postgresql`): database `payment_db` unless `POSTGRES_DB` says.
    func makeRepository(storage: String, settings: Settings, logger: Logger) throws(ConfigurationError) -> PaymentStorage? {
        guard storage == "postgres" || storage == "postgresql" else { return nil }
        let store = PostgresStore(
            settings: try PostgresSettings(settings: settings, defaultDatabase: "payment_db"),
            migrations: PostgresPaymentRepository.migrations,
            logger: logger
        )
        return (PostgresPaymentRepository(store: store, logger: logger), [store])
    }
}
