import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird

/// What both flavours' controllers share: header and path checks, authorization and the mapping of domain errors.
struct PaymentHTTP: Sendable {
    let engine: PaymentEngine
    let tokens: TokenService
    let cards: CardValidator
    let maxBodyBytes: Int
    /// Seconds a client is told to wait (`Retry-After`) while the breaker is open.
    let breakerOpenSeconds: Int

    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// The `Idempotency-Key` header: absent, or 1–255 visible ASCII characters (else 400).
    func idempotencyKey(_ request: Request) throws(APIError) -> String? {
        let values = request.headers[values: .idempotencyKey]
        guard let value = values.first else { return nil }
        guard values.count == 1, (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError.validation([
                FieldError(field: "Idempotency-Key", message: "Idempotency-Key must be 1 to 255 visible ASCII characters")
            ])
        }
        return value
    }

    /// The `{payment_id}` path parameter as a lowercase UUID; anything else names no payment (404).
    func paymentID(_ context: BookstoreRequestContext, parameter: String) throws(APIError) -> String {
        guard let raw = context.parameters.get(parameter), let uuid = UUID(parsing: raw) else {
            throw APIError.notFound("Payment not found")
        }
        return uuid.lowercasedText
    }

    /// The `{user_id}` path parameter, which must be an identifier (400 otherwise).
    func userID(_ context: BookstoreRequestContext, parameter: String, field: String) throws(APIError) -> String {
        guard let raw = context.parameters.get(parameter), Patterns.isIdentifier(raw) else {
            throw APIError.validation([FieldError(field: field, message: "\(field) must be 1 to 100 letters, digits, '_' or '-'")])
        }
        return raw
    }

    /// Throws 403 unless `identity` may act for `userID` (itself or an admin).
    func authorize(_ identity: Identity, for userID: String, _ message: String = "You may only access your own payments") throws(APIError) {
        guard identity.mayActFor(userID) else { throw APIError.forbidden(message) }
    }

    /// The payment named by the path, readable by `identity` (404, then 403).
    func ownedPayment(_ context: BookstoreRequestContext, identity: Identity, parameter: String) async throws(APIError) -> Payment {
        let id = try self.paymentID(context, parameter: parameter)
        let payment = try await self.run { () async throws(PaymentEngineError) in try await self.engine.payment(id: id) }
        try self.authorize(identity, for: payment.userID)
        return payment
    }

    /// Runs a domain operation, mapping its failures to ``APIError``s.
    func run<T>(_ operation: () async throws(PaymentEngineError) -> T) async throws(APIError) -> T {
        do throws(PaymentEngineError) {
            return try await operation()
        } catch {
            throw self.apiError(error)
        }
    }

    func apiError(_ error: PaymentEngineError) -> APIError {
        switch error {
        case .idempotencyConflict:
            return .conflict("Idempotency-Key was already used with a different request")
        case .inProgress:
            return .conflict("An identical payment request is still being processed; retry later")
        case .processorUnavailable(let breakerOpen):
            var apiError = APIError.unavailable("Payment processor unavailable; nothing was charged, please retry later")
            apiError.headers[.retryAfter] = String(breakerOpen ? self.breakerOpenSeconds : 1)
            return apiError
        case .notFound:
            return .notFound("Payment not found")
        case .notRefundable(let status):
            return .conflict("Only completed payments can be refunded (status: \(status.rawValue))")
        case .storage:
            return .unavailable("Payment storage unavailable, please retry later", retryAfterSeconds: 5)
        }
    }

    /// Response headers marking a replayed result.
    static func headers(for submission: PaymentSubmission) -> HTTPFields {
        submission.isReplay ? [Self.replayedHeader: "true"] : [:]
    }
}

extension HTTPResponse.Status {
    /// 402: the processor declined the payment.
    static let paymentRequired = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")
}
