import BookstoreCore
import GatewayService
import PaymentsService
import ReviewsService
import UsersService

/// The five services of the bookstore.
public enum ServiceKind: String, CaseIterable, Sendable {
    case gateway
    case users
    case paymentsPython = "payments-python"
    case paymentsJava = "payments-java"
    case reviews

    /// The default port of the embedded mode and local cluster (SPEC §2).
    public var defaultPort: Int {
        switch self {
        case .gateway: 8080
        case .users: 8081
        case .paymentsJava: 8082
        case .paymentsPython: 5000
        case .reviews: 5002
        }
    }

    /// The setting `bookstore up` reads to move this service to another port.
    public var portSetting: String {
        switch self {
        case .gateway: "GATEWAY_PORT"
        case .users: "USERS_PORT"
        case .paymentsJava: "PAYMENTS_JAVA_PORT"
        case .paymentsPython: "PAYMENTS_PYTHON_PORT"
        case .reviews: "REVIEWS_PORT"
        }
    }

    /// The gateway setting that lists this service's replicas (nil for the gateway itself).
    public var upstreamSetting: String? {
        switch self {
        case .gateway: nil
        case .users: "USER_SERVICE_URL"
        case .paymentsJava: "PAYMENT_JAVA_SERVICE_URL"
        case .paymentsPython: "PAYMENT_PYTHON_SERVICE_URL"
        case .reviews: "REVIEW_SERVICE_URL"
        }
    }

    /// Builds the service.
    public var builder: ServiceBuilder {
        switch self {
        case .gateway: { try await GatewayApp.build(settings: $0, bus: $1, onServerRunning: $2) }
        case .users: { try await UsersApp.build(settings: $0, bus: $1, onServerRunning: $2) }
        case .paymentsPython: { try await PaymentsPythonApp.build(settings: $0, bus: $1, onServerRunning: $2) }
        case .paymentsJava: { try await PaymentsJavaApp.build(settings: $0, bus: $1, onServerRunning: $2) }
        case .reviews: { try await ReviewsApp.build(settings: $0, bus: $1, onServerRunning: $2) }
        }
    }
}
