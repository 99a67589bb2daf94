import BookstoreCore
import Foundation
import JSONKit

/// Publishes `payment.completed`, `payment.failed` and `payment.refunded` on `payment_exchange`, in the flavour's
/// shape, after the state change is stored.
struct PaymentEvents: Sendable {
    let publisher: EventPublisher
    let flavour: any PaymentFlavour
    let serviceName: String

    init(publisher: EventPublisher, flavour: some PaymentFlavour, serviceName: String) {
        self.publisher = publisher
        self.flavour = flavour
        self.serviceName = serviceName
    }

    /// The routing key announcing a payment in `status`, if that status is announced.
    static func routingKey(for status: PaymentStatus) -> String? {
        switch status {
        case .completed: "payment.completed"
        case .failed: "payment.failed"
        case .refunded: "payment.refunded"
        case .pending, .cancelled: nil
        }
    }

    /// Publishes the event for `payment`'s current status, with the payment's pending event id as `message_id` (so a
    /// re-publish of the same event is recognisably the same message), stamped with the time of the state change.
    /// - Returns: whether the bus took it (a failure is logged and counted by the publisher).
    func publish(_ payment: Payment, requestID: String?) async -> Bool {
        guard let routingKey = Self.routingKey(for: payment.status) else { return true }
        return await self.publisher.publish(
            exchange: Exchanges.payment,
            routingKey: routingKey,
            payload: self.payload(for: payment, routingKey: routingKey, at: payment.updatedAt),
            requestID: requestID,
            messageID: payment.pendingEventID
        )
    }

    /// The flavour's event body (``PaymentFlavour/eventPayload(for:routingKey:serviceName:at:)``).
    func payload(for payment: Payment, routingKey: String, at date: Date) -> JSON {
        self.flavour.eventPayload(for: payment, routingKey: routingKey, serviceName: self.serviceName, at: date)
    }
}
