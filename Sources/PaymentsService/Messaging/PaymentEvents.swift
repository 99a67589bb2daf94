import BookstoreCore
import Foundation
import JSONKit

/// The two API flavours sharing the payment domain.
public enum PaymentFlavour: String, Sendable {
    /// Flask style: snake_case, `{status, message, timestamp, data, errors?}` envelopes.
    case python
    /// Spring Boot style: camelCase, `ApiResponse` envelopes, upper-case enums.
    case java
}

/// Publishes `payment.completed`, `payment.failed` and `payment.refunded` on `payment_exchange`, in the flavour's
/// shape, after the state change is stored.
struct PaymentEvents: Sendable {
    let publisher: EventPublisher
    let flavour: PaymentFlavour
    let serviceName: String

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

    /// Python: `{event_type, service, timestamp, data:{payment}}`. Java: `{eventType, service, paymentId, orderId,
    /// userId, amount, currency, status, transactionId, message, bookId, timestamp}` without null members.
    func payload(for payment: Payment, routingKey: String, at date: Date) -> JSON {
        switch self.flavour {
        case .python:
            return [
                "event_type": .string(routingKey),
                "service": .string(self.serviceName),
                "timestamp": .string(Timestamp.iso8601(date)),
                "data": PythonFormat.payment(payment),
            ]
        case .java:
            var object: JSONObject = [
                "eventType": .string(routingKey),
                "service": .string(self.serviceName),
                "paymentId": .string(payment.paymentID),
                "orderId": .string(payment.orderID),
                "userId": .string(payment.userID),
                "amount": payment.amount.json,
                "currency": .string(payment.currency.rawValue),
                "status": .string(JavaFormat.name(payment.status)),
            ]
            if let transactionID = payment.transactionID { object["transactionId"] = .string(transactionID) }
            object["message"] = .string(payment.message)
            if let bookID = payment.bookID { object["bookId"] = .string(bookID) }
            object["timestamp"] = .string(Timestamp.iso8601(date))
            return .object(object)
        }
    }
}
