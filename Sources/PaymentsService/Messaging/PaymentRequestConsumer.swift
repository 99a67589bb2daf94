import BookstoreCore
import Foundation
import JSONKit
import Logging

/// The asynchronous request path (SPEC §4.2, §6): consumes `payment_requests` (bound to `payment_exchange` with
/// `payment.request`), processes each request like POST /api/payments (snake_case body with `user_id`; no token,
/// this is trusted internal traffic) and replies `{order_id, payment_id, status, message, timestamp}` with the
/// request's `correlation_id`, to `reply_to` through the default exchange when set, else on `payment_exchange` with
/// `payment.response` (the durable `payment_responses` queue).
///
/// A message delivered twice (same `message_id`) is processed once, by whichever replica claims it first in the
/// repository; a repeated request (new `message_id`, same body) is not charged twice: it is deduplicated by its fingerprint.
/// Invalid requests get a reply with status `invalid`; malformed ones are then dead-lettered.
struct PaymentRequestConsumer: Sendable {
    static let queue = QueueSpec(name: "payment_requests", bindings: [.init(exchange: Exchanges.payment, pattern: "payment.request")])
    static let responses = QueueSpec(name: "payment_responses", bindings: [.init(exchange: Exchanges.payment, pattern: "payment.response")])
    static let responseRoutingKey = "payment.response"

    let engine: PaymentEngine
    let publisher: EventPublisher
    let cards: CardValidator
    let policy: EventConsumer.Policy

    /// The consumer service for `bus`.
    func makeService(bus: any EventBus, metrics: ServiceMetrics, logger: Logger) -> EventConsumer {
        // The repository is the ledger of processed message ids, so a duplicate reaching another replica is skipped.
        EventConsumer(bus: bus, queue: Self.queue, policy: self.policy, metrics: metrics, logger: logger, ledger: self.engine.repository) {
            message in
            try await self.handle(message)
        }
    }

    /// Processes one request and replies.
    /// - Throws: ``PermanentEventError`` for a malformed message (after replying); another error to have it retried
    ///   while the processor or the store is unavailable (on the last attempt it is answered `error` and parked).
    func handle(_ message: EventMessage) async throws {
        let requestID = message.headers[EventMessage.requestIDHeader]
        let object: JSONObject
        do {
            guard case .object(let parsed) = try JSON.parse(message.body) else {
                try await self.reply(to: message, orderID: nil, paymentID: nil, status: "invalid", text: "Payment request must be a JSON object")
                throw PermanentEventError("payment request is not a JSON object")
            }
            object = parsed
        } catch let error as JSONParseError {
            try await self.reply(
                to: message,
                orderID: nil,
                paymentID: nil,
                status: "invalid",
                text: "Malformed payment request: \(error.description)"
            )
            throw PermanentEventError("malformed JSON: \(error.description)")
        }
        let orderID = object["order_id"]?.stringValue
        let request: PaymentRequest
        do throws(APIError) {
            request = try PaymentRequest.read(object, fields: .snakeCase, cards: self.cards)
        } catch {
            let text = error.fieldErrors.isEmpty ? error.message : error.fieldErrors.map(\.message).joined(separator: "; ")
            try await self.reply(to: message, orderID: orderID, paymentID: nil, status: "invalid", text: text)
            return
        }
        let payment: Payment
        do throws(PaymentEngineError) {
            payment = try await self.engine.submit(request, idempotencyKey: nil, requestID: requestID).payment
        } catch {
            guard message.attempt >= self.policy.maxAttempts else { throw error }
            try await self.reply(
                to: message,
                orderID: orderID,
                paymentID: nil,
                status: "error",
                text: "Payment could not be processed; nothing was charged"
            )
            throw PermanentEventError("payment request failed on every attempt: \(error)")
        }
        try await self.reply(
            to: message,
            orderID: payment.orderID,
            paymentID: payment.paymentID,
            status: payment.status.rawValue,
            text: payment.message
        )
    }

    /// - Throws: ``EventNotStored`` when the bus cannot take the reply: the request is retried, and its repetition gets
    ///   the stored payment's outcome, so the reply is sent once the bus takes it.
    private func reply(to request: EventMessage, orderID: String?, paymentID: String?, status: String, text: String) async throws {
        let payload: JSON = [
            "order_id": .optional(orderID),
            "payment_id": .optional(paymentID),
            "status": .string(status),
            "message": .string(text),
            "timestamp": .string(Timestamp.iso8601(Date())),
        ]
        let replyTo = request.replyTo.flatMap { $0.isEmpty ? nil : $0 }
        let routingKey = replyTo ?? Self.responseRoutingKey
        let stored = await self.publisher.publish(
            exchange: replyTo == nil ? Exchanges.payment : "",
            routingKey: routingKey,
            payload: payload,
            requestID: request.headers[EventMessage.requestIDHeader],
            correlationID: request.correlationID
        )
        guard stored else { throw EventNotStored(routingKey: routingKey) }
    }
}
