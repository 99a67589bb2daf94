import BookstoreCore
import Foundation
import Logging

/// What the review service does with the events it consumes (SPEC §4.5, §6).
struct ReviewEventHandlers: Sendable {
    /// Payment events: completed payments make later reviews verified purchases, refunds undo that.
    static let paymentQueue = QueueSpec(
        name: "review_payment_events",
        bindings: [
            .init(exchange: Exchanges.payment, pattern: "payment.completed"),
            .init(exchange: Exchanges.payment, pattern: "payment.refunded"),
        ]
    )
    /// User events: a deleted user's reviews are soft-deleted.
    static let userQueue = QueueSpec(name: "review_user_events", bindings: [.init(exchange: Exchanges.user, pattern: "user.deleted")])

    let reviews: any ReviewRepository
    let purchases: any PurchaseRepository
    let events: ReviewEvents
    let logger: Logger

    /// Handles `payment.completed` and `payment.refunded` of either flavour. A payment without a book id, or a
    /// `payment.completed` whose status is not completed, is acknowledged and ignored.
    func handlePayment(_ message: EventMessage) async throws {
        guard let event = try PaymentEvent.parse(message) else { return }
        var logger = self.logger
        logger[metadataKey: "user.id"] = .string(event.userID)
        logger[metadataKey: "payment.id"] = event.paymentID.map { .string($0) }
        switch event.kind {
        case .completed:
            if let status = event.status, status.lowercased() != "completed" {
                logger.debug("Payment event ignored: not completed", metadata: ["payment.status": .string(status)])
                return
            }
            guard let bookID = event.bookID else {
                logger.debug("Payment event ignored: no book id")
                return
            }
            try await self.purchases.recordPurchase(paymentID: event.paymentID ?? message.messageID, userID: event.userID, bookID: bookID)
            logger.info("Purchase recorded", metadata: ["book.id": .string(bookID)])
        case .refunded:
            guard event.paymentID != nil || event.bookID != nil else {
                logger.debug("Refund event ignored: neither payment id nor book id")
                return
            }
            try await self.purchases.revokePurchase(paymentID: event.paymentID, userID: event.userID, bookID: event.bookID)
            logger.info("Purchase revoked", metadata: ["book.id": event.bookID.map { .string($0) } ?? "unknown"])
        }
    }

    /// Handles `user.deleted`: soft-deletes every review of the user and publishes `review.deleted` for each.
    func handleUser(_ message: EventMessage) async throws {
        guard let event = try UserDeletedEvent.parse(message) else { return }
        let deleted = try await self.reviews.deleteAll(userID: event.userID, at: Date())
        let requestID = message.headers[EventMessage.requestIDHeader]
        for (index, review) in deleted.enumerated() where await !self.events.publish(.deleted, review, requestID: requestID) {
            // The bus cannot take events: the reviews whose event was not published are made visible again (as active;
            // the retry deletes them again, so a flagged one ends deleted all the same) and the message fails, so its
            // retry deletes them and publishes their events.
            for unpublished in deleted[index...] {
                guard let original = try await self.reviews.find(id: unpublished.id) else { continue }
                var visible = original
                visible.status = .active
                try await self.reviews.restore(visible)
            }
            throw EventNotStored(routingKey: ReviewEvents.Kind.deleted.rawValue)
        }
        self.logger.info(
            "Reviews of a deleted user removed",
            metadata: ["user.id": .string(event.userID), "reviews.deleted": .stringConvertible(deleted.count)]
        )
    }
}
