import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct PublishedEventTests {
    @Test func writesPublishReviewEvents() async throws {
        try await Harness.run { app in
            let queue = try await app.bindReviewEventQueue()
            let token = try await Fixture.token(Fixture.alice)
            let created = try await app.send(
                .post,
                "/api/reviews",
                token: token,
                json: Fixture.reviewBody(),
                headers: [.requestID: "req-create-1"]
            )
            let id = try #require(created.json["review_id"]?.stringValue)
            let updated = try await app.send(.put, "/api/reviews/\(id)", token: token, json: ["rating": 2])
            #expect(try await app.send(.post, "/api/reviews/\(id)/helpful", token: token).code == 200)
            #expect(try await app.send(.delete, "/api/reviews/\(id)", token: token).code == 200)
            // Failed writes publish nothing.
            #expect(try await app.send(.post, "/api/reviews", token: token, json: [:]).code == 400)

            let messages = app.bus.pendingMessages(in: queue)
            #expect(messages.map(\.routingKey) == ["review.created", "review.updated", "review.deleted"])
            #expect(messages.allSatisfy { $0.exchange == Exchanges.review && $0.contentType == "application/json" })
            #expect(messages.first?.headers[EventMessage.requestIDHeader] == "req-create-1")
            #expect(messages.allSatisfy { $0.headers[EventMessage.traceHeader] != nil })

            let payloads = try messages.map { try JSON.parse($0.body) }
            for (payload, kind) in zip(payloads, ["review.created", "review.updated", "review.deleted"]) {
                #expect(payload.objectValue?.keys == ["event_type", "service", "timestamp", "data"])
                #expect(payload["event_type"] == .string(kind))
                #expect(payload["service"] == "review-service")
                #expect(payload["timestamp"]?.stringValue.flatMap(Timestamp.parse) != nil)
                #expect(payload["data"]?["review_id"] == .string(id))
            }
            #expect(payloads[0]["data"] == created.json)
            #expect(payloads[1]["data"] == updated.json)
            #expect(payloads[2]["data"]?["status"] == "deleted")

            #expect(
                app.metric("messages_published_total", ["exchange": "review_exchange", "routing_key": "review.created", "outcome": "success"]) == 1
            )
            #expect(
                app.metric("messages_published_total", ["exchange": "review_exchange", "routing_key": "review.deleted", "outcome": "success"]) == 1
            )
        }
    }
}

@Suite struct ConsumedEventTests {
    static func pythonPayment(
        userID: String = Fixture.alice.userID,
        bookID: JSON = "book-1",
        paymentID: String = "pay-\(UUID().uuidString.lowercased())",
        status: String = "completed",
        eventType: String = "payment.completed"
    ) -> JSON {
        [
            "event_type": .string(eventType),
            "service": "payment-service-python",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "data": [
                "payment_id": .string(paymentID),
                "order_id": "order-1",
                "user_id": .string(userID),
                "amount": .number("19.90"),
                "currency": "USD",
                "payment_method": "credit_card",
                "status": .string(status),
                "transaction_id": "TXN-0123456789AB",
                "message": "Payment processed successfully",
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "book_id": bookID,
            ],
        ]
    }

    static func javaPayment(
        userID: String = Fixture.alice.userID,
        bookID: JSON = "book-1",
        paymentID: String = "pay-\(UUID().uuidString.lowercased())",
        status: String = "COMPLETED",
        eventType: String = "payment.completed"
    ) -> JSON {
        var object: JSONObject = [
            "eventType": .string(eventType),
            "service": "payment-service-java",
            "paymentId": .string(paymentID),
            "orderId": "order-1",
            "userId": .string(userID),
            "amount": .number("19.90"),
            "currency": "USD",
            "status": .string(status),
            "transactionId": "TXN-0123456789AB",
            "message": "Payment processed successfully",
            "timestamp": "2026-01-01T00:00:00.000Z",
        ]
        if bookID != .null { object["bookId"] = bookID }
        return .object(object)
    }

    /// Publishes payment events and waits until the review service consumed all of them.
    static func deliverPayments(_ app: Harness, _ events: [(String, JSON)]) async throws {
        let before = app.consumed("review_payment_events")
        for (routingKey, payload) in events {
            try await app.publish(exchange: Exchanges.payment, routingKey: routingKey, body: payload.bytes)
        }
        #expect(try await eventually { app.consumed("review_payment_events") == before + events.count })
    }

    static func verified(_ app: Harness, as identity: Identity = Fixture.alice, bookID: String = "book-1") async throws -> Bool? {
        try await app.createReview(as: identity, bookID: bookID)["verified_purchase"]?.boolValue
    }

    @Test func pythonFlavourPaymentMakesAVerifiedPurchase() async throws {
        try await Harness.run { app in
            try await Self.deliverPayments(app, [("payment.completed", Self.pythonPayment())])
            #expect(try await Self.verified(app) == true)
            // Only for that user and that book.
            #expect(try await Self.verified(app, bookID: "book-2") == false)
            #expect(try await Self.verified(app, as: Fixture.bob) == false)
        }
    }

    @Test func javaFlavourPaymentMakesAVerifiedPurchase() async throws {
        try await Harness.run { app in
            try await Self.deliverPayments(app, [("payment.completed", Self.javaPayment(bookID: "book-java"))])
            #expect(try await Self.verified(app, bookID: "book-java") == true)
        }
    }

    @Test func withoutAPaymentNothingIsVerifiedWhateverTheClientSays() async throws {
        try await Harness.run { app in
            let reply = try await app.send(
                .post,
                "/api/reviews",
                token: try await Fixture.token(Fixture.alice),
                json: Fixture.reviewBody(overrides: ["verified_purchase": true])
            )
            #expect(reply.code == 201)
            #expect(reply.json["verified_purchase"] == false)
        }
    }

    @Test func paymentsThatDoNotQualifyAreAcknowledgedAndIgnored() async throws {
        try await Harness.run { app in
            try await Self.deliverPayments(
                app,
                [
                    ("payment.completed", Self.pythonPayment(bookID: .null)),
                    ("payment.completed", Self.javaPayment(bookID: .null)),
                    ("payment.completed", Self.pythonPayment(bookID: "  ")),
                    ("payment.completed", Self.pythonPayment(status: "failed")),
                    ("payment.completed", Self.javaPayment(status: "FAILED")),
                    ("payment.completed", Self.pythonPayment(status: "failed", eventType: "payment.failed")),
                ]
            )
            #expect(try await Self.verified(app) == false)
            #expect(app.bus.pendingMessages(in: "review_payment_events.dlq").isEmpty)
        }
    }

    @Test func numericIdentifiersAreAccepted() async throws {
        try await Harness.run { app in
            try await Self.deliverPayments(app, [("payment.completed", Self.javaPayment(bookID: 12345))])
            #expect(try await Self.verified(app, bookID: "12345") == true)
        }
    }

    @Test func refundsRemoveTheVerifiedStatusForLaterReviews() async throws {
        try await Harness.run { app in
            try await Self.deliverPayments(
                app,
                [
                    ("payment.completed", Self.pythonPayment(bookID: "kept", paymentID: "p-1")),
                    ("payment.completed", Self.pythonPayment(bookID: "refunded-py", paymentID: "p-2")),
                    ("payment.completed", Self.javaPayment(bookID: "refunded-java", paymentID: "p-3")),
                ]
            )
            let before = try await app.createReview(bookID: "refunded-py")
            #expect(before["verified_purchase"] == true)

            try await Self.deliverPayments(
                app,
                [
                    (
                        "payment.refunded",
                        Self.pythonPayment(bookID: "refunded-py", paymentID: "p-2", status: "refunded", eventType: "payment.refunded")
                    ),
                    // The Java flavour's refund event may not carry the book: the payment id is enough.
                    ("payment.refunded", Self.javaPayment(bookID: .null, paymentID: "p-3", status: "REFUNDED", eventType: "payment.refunded")),
                ]
            )
            // The review written before the refund keeps its flag.
            let id = try #require(before["review_id"]?.stringValue)
            #expect(try await app.send(.get, "/api/reviews/\(id)").json["verified_purchase"] == true)
            #expect(try await Self.verified(app, as: Fixture.bob, bookID: "refunded-py") == false)
            #expect(try await Self.verified(app, bookID: "refunded-java") == false)
            #expect(try await Self.verified(app, bookID: "kept") == true)
        }
    }

    @Test func malformedPaymentEventsAreDeadLettered() async throws {
        try await Harness.run { app in
            let bodies: [[UInt8]] = [
                Array("not json".utf8),
                Array("[1,2,3]".utf8),
                Array(#"{"event_type":"payment.completed","data":{"book_id":"book-1"}}"#.utf8),
                Array(#"{"eventType":"payment.completed","userId":{"id":1},"bookId":"book-1"}"#.utf8),
            ]
            for body in bodies {
                try await app.publish(exchange: Exchanges.payment, routingKey: "payment.completed", body: body)
            }
            #expect(try await eventually { app.bus.pendingMessages(in: "review_payment_events.dlq").count == bodies.count })
            let parked = app.bus.pendingMessages(in: "review_payment_events.dlq")
            // Deliveries run concurrently (prefetch), so the parking order is not the publishing order.
            #expect(Set(parked.map(\.body)) == Set(bodies))
            #expect(parked.allSatisfy { $0.headers["x-death-reason"] != nil })
            #expect(app.metric("messages_dead_lettered_total", ["queue": "review_payment_events"]) == Double(bodies.count))
            #expect(app.consumed("review_payment_events", outcome: "dead_lettered") == bodies.count)
            // The consumer keeps working after poison messages.
            try await Self.deliverPayments(app, [("payment.completed", Self.pythonPayment())])
            #expect(try await Self.verified(app) == true)
        }
    }

    @Test func redeliveredMessagesAreProcessedOnce() async throws {
        try await Harness.run { app in
            let body = Self.pythonPayment().bytes
            try await app.publish(exchange: Exchanges.payment, routingKey: "payment.completed", body: body, messageID: "same-id")
            #expect(try await eventually { app.consumed("review_payment_events") == 1 })
            try await app.publish(exchange: Exchanges.payment, routingKey: "payment.completed", body: body, messageID: "same-id")
            #expect(
                try await eventually {
                    app.consumed("review_payment_events") + app.consumed("review_payment_events", outcome: "duplicate") == 2
                }
            )
            #expect(app.consumed("review_payment_events") == 1)
        }
    }

    @Test func deletedUsersLoseTheirReviews() async throws {
        try await Harness.run { app in
            let queue = try await app.bindReviewEventQueue()
            let first = try #require(try await app.createReview(bookID: "b1")["review_id"]?.stringValue)
            let second = try #require(try await app.createReview(bookID: "b2")["review_id"]?.stringValue)
            let bobs = try #require(try await app.createReview(as: Fixture.bob, bookID: "b1")["review_id"]?.stringValue)
            let countBefore = app.bus.pendingMessages(in: queue).count

            let event: JSON = [
                "event_type": "user.deleted",
                "user_id": .string(Fixture.alice.userID),
                "username": "alice",
                "timestamp": "2026-01-01T00:00:00.000Z",
            ]
            try await app.bus.publish(
                EventMessage(exchange: Exchanges.user, routingKey: "user.deleted", body: event.bytes, headers: ["X-Request-ID": "req-user-del"])
            )
            #expect(try await eventually { app.consumed("review_user_events") == 1 })

            #expect(try await app.send(.get, "/api/reviews/\(first)").code == 404)
            #expect(try await app.send(.get, "/api/reviews/\(second)").code == 404)
            #expect(try await app.send(.get, "/api/reviews/\(bobs)").code == 200)
            #expect(try await app.send(.get, "/api/reviews/user/\(Fixture.alice.userID)").json["total"] == .number("0"))
            #expect(try await app.send(.get, "/api/reviews/book/b1/stats").json["total_reviews"] == .number("1"))

            let deletions = app.bus.pendingMessages(in: queue).dropFirst(countBefore)
            #expect(deletions.map(\.routingKey) == ["review.deleted", "review.deleted"])
            #expect(deletions.allSatisfy { $0.headers[EventMessage.requestIDHeader] == "req-user-del" })
            let deletedIDs = Set(deletions.compactMap { try? JSON.parse($0.body)["data"]?["review_id"]?.stringValue })
            #expect(deletedIDs == [first, second])
        }
    }

    @Test func malformedUserEventsAreDeadLettered() async throws {
        try await Harness.run { app in
            for body in ["{", #"{"event_type":"user.deleted","username":"x"}"#, #"{"event_type":"user.deleted","user_id":42.5}"#] {
                try await app.publish(exchange: Exchanges.user, routingKey: "user.deleted", body: Array(body.utf8))
            }
            #expect(try await eventually { app.bus.pendingMessages(in: "review_user_events.dlq").count == 3 })
        }
    }
}
