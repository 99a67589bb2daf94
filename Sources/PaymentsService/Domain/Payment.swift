import BookstoreCore
import Foundation

/// A payment as stored. Card data is never part of it.
public struct Payment: Sendable, Equatable {
    /// The payment's id: a lowercase UUID.
    public var paymentID: String
    public var orderID: String
    public var userID: String
    public var amount: Money
    public var currency: Currency
    public var method: PaymentMethod
    public var status: PaymentStatus
    /// `TXN-` and 12 uppercase hex digits once the processor approved it.
    public var transactionID: String?
    /// A human-readable outcome (`Payment declined by gateway`).
    public var message: String
    /// The book bought, when the client said (reviews derive verified purchases from it).
    public var bookID: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var refundedAt: Date?
    /// The client's `Idempotency-Key`, unique per user.
    public var idempotencyKey: String?
    /// What identifies the request for replays (see ``PaymentRequest/fingerprint``).
    public var fingerprint: String
    /// The `message_id` of this payment's event while the bus has not taken it: written in the same write as the
    /// state change it announces (a transactional outbox), cleared once the bus took the event. A replica that dies
    /// between the two, or a bus that refuses the event, leaves it set, and the relay (or a replay) publishes it.
    public var pendingEventID: String?

    public init(
        paymentID: String,
        orderID: String,
        userID: String,
        amount: Money,
        currency: Currency,
        method: PaymentMethod,
        status: PaymentStatus,
        transactionID: String?,
        message: String,
        bookID: String?,
        createdAt: Date,
        updatedAt: Date,
        refundedAt: Date?,
        idempotencyKey: String?,
        fingerprint: String,
        pendingEventID: String? = nil
    ) {
        self.paymentID = paymentID
        self.orderID = orderID
        self.userID = userID
        self.amount = amount
        self.currency = currency
        self.method = method
        self.status = status
        self.transactionID = transactionID
        self.message = message
        self.bookID = bookID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.refundedAt = refundedAt
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.pendingEventID = pendingEventID
    }

    /// A new `pending` payment for `request`: the claim stored before the processor is called.
    static func pending(
        for request: PaymentRequest,
        idempotencyKey: String?,
        now: Date,
        paymentID: String = UUID().lowercasedText
    ) -> Payment {
        Payment(
            paymentID: paymentID,
            orderID: request.orderID,
            userID: request.userID,
            amount: request.amount,
            currency: request.currency,
            method: request.method,
            status: .pending,
            transactionID: nil,
            message: "Payment is being processed",
            bookID: request.bookID,
            createdAt: now,
            updatedAt: now,
            refundedAt: nil,
            idempotencyKey: idempotencyKey,
            fingerprint: request.fingerprint
        )
    }
}

/// The current time truncated to milliseconds, the precision every timestamp is written and stored with.
func currentMillisecondDate() -> Date {
    Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
}
