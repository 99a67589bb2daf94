import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// One of the two payment API flavours sharing the payment domain: everything in which the Flask-style service
/// (``PythonFlavour``) and the Spring Boot-style service (``JavaFlavour``) differ. The routes, the domain and the
/// assembly are written once (``PaymentsController``, ``PaymentsAppBuilder``); a flavour supplies names, shapes and
/// defaults.
protocol PaymentFlavour: Sendable {
    /// `python` or `java`: for logs and messages, and the default service name.
    var name: String { get }
    var defaultPort: Int { get }
    /// Whether the `payment_requests` consumer runs unless `PAYMENT_REQUESTS_CONSUMER` says.
    var consumesPaymentRequestsByDefault: Bool { get }

    /// The names of the payment request fields in request bodies.
    var fields: PaymentFields { get }
    /// The path parameter naming a payment (`payment_id`, `paymentId`).
    var paymentIDParameter: String { get }
    /// The status of a new completed payment.
    var createdStatus: HTTPResponse.Status { get }

    /// A request body as the flavour reads it (the Java flavour accepts snake_case names too).
    func requestObject(_ object: JSONObject) -> JSONObject
    /// A payment in the flavour's JSON.
    func payment(_ payment: Payment) -> JSON
    /// The `data` of a refund's response.
    func refundData(_ payment: Payment) -> JSON
    /// The flavour's envelope of a response with `status`.
    func envelope(_ status: HTTPResponse.Status, message: String, data: JSON) -> JSON
    /// Renders every error in the flavour's envelope.
    var renderError: ErrorRenderer { get }
    /// The body of a `payment.*` event announcing `payment` under `routingKey`.
    func eventPayload(for payment: Payment, routingKey: String, serviceName: String, at date: Date) -> JSON

    /// The service's router with the flavour's health (and info, metrics) routes.
    func makeRouter(_ scaffold: ServiceScaffold) -> ServiceRouter
    /// The repository of a `STORAGE` other than `memory`, with the services it needs running; nil when the flavour
    /// has no such store.
    func makeRepository(storage: String, settings: Settings, logger: Logger) throws(ConfigurationError) -> PaymentStorage?
}

extension PaymentFlavour {
    /// `payment-service-python`, `payment-service-java`.
    var defaultServiceName: String { "payment-service-\(self.name)" }

    /// The path parameter naming a user, spelled as the request field (`user_id`, `userId`); also the field its
    /// errors name.
    var userIDParameter: String { self.fields.userID }

    /// A response in the flavour's envelope, 200 without extra headers unless told.
    func response(_ status: HTTPResponse.Status = .ok, message: String, data: JSON, headers: HTTPFields = [:]) -> Response {
        Response.json(self.envelope(status, message: message, data: data), status: status, headers: headers)
    }
}

/// A payment repository with the services it needs running (a database pool).
typealias PaymentStorage = (repository: any PaymentRepository, services: [any Service])

extension PaymentFlavour where Self == PythonFlavour {
    /// The Flask-style flavour.
    static var python: PythonFlavour { PythonFlavour() }
}

extension PaymentFlavour where Self == JavaFlavour {
    /// The Spring Boot-style flavour.
    static var java: JavaFlavour { JavaFlavour() }
}
