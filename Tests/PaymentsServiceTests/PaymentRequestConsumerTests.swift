import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// The asynchronous request path over `payment_requests`.
@Suite struct PaymentRequestConsumerTests {
    let tokens: TestTokens
    static let replies = QueueSpec(name: "test.replies", bindings: [])

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    func request(_ body: JSON, replyTo: String? = replies.name, correlationID: String = "corr-1", messageID: String? = nil) -> EventMessage {
        self.request(bytes: body.bytes, replyTo: replyTo, correlationID: correlationID, messageID: messageID)
    }

    func request(bytes: [UInt8], replyTo: String? = replies.name, correlationID: String = "corr-1", messageID: String? = nil) -> EventMessage {
        EventMessage(
            exchange: Exchanges.payment,
            routingKey: "payment.request",
            body: bytes,
            messageID: messageID ?? UUID().uuidString.lowercased(),
            correlationID: correlationID,
            replyTo: replyTo,
            headers: ["X-Request-ID": "async-req-1"]
        )
    }

    static let body: JSON = ["order_id": "order-a1", "user_id": "user-1", "amount": .number("42.00"), "currency": "gbp", "book_id": "book-3"]

    @Test func aRequestIsProcessedAndAnsweredToReplyTo() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        let admin = self.tokens.admin()
        try await Flavour.python.build(bus: bus).application.test(.router) { client in
            try await bus.publish(self.request(Self.body))
            let replies = try await waitForMessages(bus, in: Self.replies.name, count: 1)
            let reply = try #require(replies.first)
            #expect(reply.correlationID == "corr-1")
            #expect(reply.exchange == "")
            #expect(reply.headers["X-Request-ID"] == "async-req-1")
            let json = try JSON.parse(reply.body)
            #expect(json.objectValue?.keys == ["order_id", "payment_id", "status", "message", "timestamp"])
            #expect(json["order_id"] == "order-a1")
            #expect(json["status"] == "completed")
            #expect(json["message"] == "Payment processed successfully")
            let id = try #require(json["payment_id"]?.stringValue)
            let stored = try await client.send(.get, "/api/payments/\(id)", token: admin)
            #expect(stored.data?["amount"] == .number("42.00"))
            #expect(stored.data?["currency"] == "GBP")
            #expect(stored.data?["book_id"] == "book-3")
            #expect(bus.pendingMessages(in: "payment_responses").isEmpty)
        }
    }

    @Test func withoutReplyToTheAnswerGoesToPaymentResponses() async throws {
        let bus = InProcessEventBus()
        try await Flavour.python.build(bus: bus).application.test(.router) { _ in
            try await bus.publish(self.request(Self.body, replyTo: nil, correlationID: "corr-2"))
            let replies = try await waitForMessages(bus, in: "payment_responses", count: 1)
            let reply = try #require(replies.first)
            #expect(reply.exchange == Exchanges.payment)
            #expect(reply.routingKey == "payment.response")
            #expect(reply.correlationID == "corr-2")
            #expect(try JSON.parse(reply.body)["status"] == "completed")
        }
    }

    @Test func aDuplicateDeliveryIsNotChargedTwice() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        let admin = self.tokens.admin()
        try await Flavour.python.build(bus: bus).application.test(.router) { client in
            // The same message twice (deduplicated on message_id: one reply) and a redelivery with a new id.
            try await bus.publish(self.request(Self.body, messageID: "m-1"))
            _ = try await waitForMessages(bus, in: Self.replies.name, count: 1)
            try await bus.publish(self.request(Self.body, messageID: "m-1"))
            try await bus.publish(self.request(Self.body, correlationID: "corr-3", messageID: "m-2"))
            let replies = try await waitForMessages(bus, in: Self.replies.name, count: 2)
            try await Task.sleep(for: .milliseconds(50))
            #expect(bus.pendingMessages(in: Self.replies.name).count == 2)
            let ids = try replies.map { try JSON.parse($0.body)["payment_id"] }
            #expect(ids[0] == ids[1])
            #expect(replies.map(\.correlationID) == ["corr-1", "corr-3"])
            #expect(try await client.send(.get, "/api/payments/user/user-1", token: admin).data?["total"] == 1)
            let metrics = try await client.send(.get, "/metrics")
            #expect(
                metrics.text.contains(#"messages_consumed_total{service="payment-service-python",queue="payment_requests",outcome="duplicate"} 1"#)
            )
        }
    }

    @Test func anInvalidRequestIsAnsweredAndNotCharged() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        let admin = self.tokens.admin()
        try await Flavour.python.build(bus: bus).application.test(.router) { client in
            try await bus.publish(self.request(["order_id": "order-bad", "user_id": "user-1", "amount": "12.50"]))
            try await bus.publish(self.request(["order_id": "order-bad2", "amount": .number("1")], correlationID: "corr-4"))
            let replies = try await waitForMessages(bus, in: Self.replies.name, count: 2).sorted { $0.correlationID < $1.correlationID }
            let first = try JSON.parse(replies[0].body)
            #expect(first["status"] == "invalid")
            #expect(first["order_id"] == "order-bad")
            #expect(first["payment_id"] == .null)
            #expect(first["message"] == "amount must be a number")
            let second = try JSON.parse(replies[1].body)
            #expect(second["message"] == "user_id is required")
            #expect(replies[1].correlationID == "corr-4")
            #expect(try await client.send(.get, "/api/payments/user/user-1", token: admin).data?["total"] == 0)
            #expect(bus.pendingMessages(in: "payment_requests.dlq").isEmpty)
        }
    }

    @Test func aMalformedRequestIsAnsweredAndDeadLettered() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        try await Flavour.python.build(bus: bus).application.test(.router) { client in
            try await bus.publish(self.request(bytes: Array("{not json".utf8), correlationID: "corr-bad"))
            try await bus.publish(self.request(bytes: Array("[1,2]".utf8), correlationID: "corr-array"))
            let parked = try await waitForMessages(bus, in: "payment_requests.dlq", count: 2)
            #expect(parked.count == 2)
            #expect(Set(parked.map(\.correlationID)) == ["corr-bad", "corr-array"])
            let replies = try await waitForMessages(bus, in: Self.replies.name, count: 2)
            #expect(Set(replies.map(\.correlationID)) == ["corr-bad", "corr-array"])
            #expect(try replies.allSatisfy { try JSON.parse($0.body)["status"] == "invalid" })
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.text.contains(#"messages_dead_lettered_total{service="payment-service-python",queue="payment_requests"} 2"#))
        }
    }

    @Test func anUnavailableProcessorIsRetriedThenAnsweredAndParked() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        let settings = ["PAYMENT_PROCESSOR_ERROR_RATE": "1", "PAYMENT_RETRY_MAX_ATTEMPTS": "1"]
        try await Flavour.python.build(settings, bus: bus).application.test(.router) { client in
            try await bus.publish(self.request(Self.body))
            let replies = try await waitForMessages(bus, in: Self.replies.name, count: 1, timeout: .seconds(30))
            let reply = try JSON.parse(try #require(replies.first).body)
            #expect(reply["status"] == "error")
            #expect(reply["payment_id"] == .null)
            #expect(try await waitForMessages(bus, in: "payment_requests.dlq", count: 1).count == 1)
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.text.contains(#"messages_consumed_total{service="payment-service-python",queue="payment_requests",outcome="retry"} 4"#))
        }
    }

    @Test func theJavaFlavourConsumesOnlyWhenEnabled() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.replies)
        try await Flavour.java.build(bus: bus).application.test(.router) { _ in
            try await bus.publish(self.request(Self.body))
            try await Task.sleep(for: .milliseconds(50))
            #expect(bus.pendingMessages(in: Self.replies.name).isEmpty)
            #expect(bus.pendingMessages(in: Exchanges.unroutedQueue).count == 1)
        }
        let enabled = InProcessEventBus()
        try await enabled.declareQueue(Self.replies)
        try await Flavour.java.build(["PAYMENT_REQUESTS_CONSUMER": "true"], bus: enabled).application.test(.router) { _ in
            try await enabled.publish(self.request(Self.body))
            let replies = try await waitForMessages(enabled, in: Self.replies.name, count: 1)
            #expect(try JSON.parse(try #require(replies.first).body)["status"] == "completed")
        }
    }
}
