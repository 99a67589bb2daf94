import BookstoreCore
import Foundation
import JSONKit

/// Publishes `review.created`, `review.updated` and `review.deleted` on `review_exchange` with the payload
/// `{event_type, service, timestamp, data: review}`.
struct ReviewEvents: Sendable {
    enum Kind: String, Sendable {
        case created = "review.created"
        case updated = "review.updated"
        case deleted = "review.deleted"
    }

    let publisher: EventPublisher

    /// Publishes the event of a change already stored; whether the bus took it.
    func publish(_ kind: Kind, _ review: Review, requestID: String?) async -> Bool {
        await self.publisher.publish(
            exchange: Exchanges.review,
            routingKey: kind.rawValue,
            payload: Self.payload(kind, review),
            requestID: requestID
        )
    }

    /// Publishes the event of a change already stored, or undoes the change and fails the request with 503.
    func publishOrUndo(_ kind: Kind, _ review: Review, requestID: String?, undo: () async throws -> Void) async throws {
        try await self.publisher.publishOrUndo(
            exchange: Exchanges.review,
            routingKey: kind.rawValue,
            payload: Self.payload(kind, review),
            requestID: requestID,
            undo: undo
        )
    }

    static func payload(_ kind: Kind, _ review: Review, at date: Date = Date()) -> JSON {
        [
            "event_type": .string(kind.rawValue),
            "service": .string(ReviewsApp.serviceName),
            "timestamp": .string(Timestamp.iso8601(date)),
            "data": review.json,
        ]
    }
}
