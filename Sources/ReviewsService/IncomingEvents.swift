import BookstoreCore
import JSONKit

/// A payment event of either flavour, reduced to what the review service needs.
///
/// Python flavour: `{event_type, service, timestamp, data: {payment_id, user_id, book_id, status, …}}`.
/// Java flavour: `{eventType, service, paymentId, orderId, userId, bookId, status: "COMPLETED", …}`.
struct PaymentEvent: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case completed
        case refunded
    }

    var kind: Kind
    var paymentID: String?
    var userID: String
    var bookID: String?
    var status: String?

    /// Reads a payment event; nil for event types the service does not act on.
    /// - Throws: ``PermanentEventError`` when the body is not a JSON object or carries no usable user id.
    static func parse(_ message: EventMessage) throws(PermanentEventError) -> PaymentEvent? {
        let payload = try EventFields(message)
        let kind: Kind
        switch payload.eventType {
        case "payment.completed": kind = .completed
        case "payment.refunded": kind = .refunded
        default: return nil
        }
        guard let userID = try payload.identifier("user_id", "userId") else {
            throw PermanentEventError("\(payload.eventType) event without a user id")
        }
        return PaymentEvent(
            kind: kind,
            paymentID: try payload.identifier("payment_id", "paymentId"),
            userID: userID,
            bookID: try payload.identifier("book_id", "bookId"),
            status: payload.value("status", "status")?.stringValue
        )
    }
}

/// A `user.deleted` event: `{event_type: "user.deleted", user_id, username, timestamp}` (a camelCase `userId` or a
/// `data` object are accepted too).
struct UserDeletedEvent: Sendable, Equatable {
    var userID: String

    /// Reads a user event; nil for event types other than `user.deleted`.
    /// - Throws: ``PermanentEventError`` when the body is not a JSON object or carries no usable user id.
    static func parse(_ message: EventMessage) throws(PermanentEventError) -> UserDeletedEvent? {
        let payload = try EventFields(message)
        guard payload.eventType == "user.deleted" else { return nil }
        guard let userID = try payload.identifier("user_id", "userId") else {
            throw PermanentEventError("user.deleted event without a user id")
        }
        return UserDeletedEvent(userID: userID)
    }
}

/// The fields of an event body, looked up in its `data` object first, then at the top level.
struct EventFields {
    let top: JSONObject
    let data: JSONObject?
    /// `event_type` or `eventType`, else the routing key.
    let eventType: String

    init(_ message: EventMessage) throws(PermanentEventError) {
        let value: JSON
        do {
            value = try JSON.parse(message.body)
        } catch {
            throw PermanentEventError("body is not valid JSON: \(error.description)")
        }
        guard case .object(let object) = value else { throw PermanentEventError("body is a JSON \(value.typeName), not an object") }
        self.top = object
        self.data = object["data"]?.objectValue
        self.eventType = object["event_type"]?.stringValue ?? object["eventType"]?.stringValue ?? message.routingKey
    }

    /// The non-null value of the snake_case or camelCase key.
    func value(_ snake: String, _ camel: String) -> JSON? {
        for object in [self.data, self.top].compactMap(\.self) {
            for key in [snake, camel] {
                if let value = object[key], value != .null { return value }
            }
        }
        return nil
    }

    /// An identifier field: a non-blank string, or an integer number (as its literal); nil when absent or blank.
    /// - Throws: ``PermanentEventError`` when present with another type.
    func identifier(_ snake: String, _ camel: String) throws(PermanentEventError) -> String? {
        switch self.value(snake, camel) {
        case nil:
            return nil
        case .string(let text):
            let trimmed = text.trimmingWhitespace()
            return trimmed.isEmpty ? nil : trimmed
        case .number(let literal) where JSON.number(literal).intValue != nil:
            return literal
        case .some(let other):
            throw PermanentEventError("\(snake) is a \(other.typeName), expected a string")
        }
    }
}
