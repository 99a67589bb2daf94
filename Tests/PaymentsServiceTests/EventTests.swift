import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// `payment.completed`, `payment.failed` and `payment.refunded` on `payment_exchange`, in each flavour's shape.
@Suite struct EventTests {
    let tokens: TestTokens
    static let testQueue = QueueSpec(name: "test.payment-events", bindings: [.init(exchange: Exchanges.payment, pattern: "payment.#")])

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    @Test func pythonEventsCarryTheFullPaymentInSnakeCase() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.testQueue)
        let token = self.tokens.user()
        let requestID = "0af7651916cd43dd8448eb211c80319c"
        try await Flavour.python.build(bus: bus).application.test(.router) { client in
            let created = try await client.send(
                .post,
                "/api/payments",
                token: token,
                json: Flavour.python.paymentBody(bookID: "book-9"),
                headers: [.requestID: requestID]
            )
            let id = try #require(created.data?["payment_id"]?.stringValue)
            let refunded = try await client.send(.post, "/api/payments/\(id)/refund", token: token)
            #expect(refunded.status == .ok)
            let stored = try await client.send(.get, "/api/payments/\(id)", token: token)

            let messages = try await waitForMessages(bus, in: Self.testQueue.name, count: 2)
            #expect(messages.map(\.routingKey) == ["payment.completed", "payment.refunded"])
            let completed = try JSON.parse(messages[0].body)
            #expect(completed.objectValue?.keys == ["event_type", "service", "timestamp", "data"])
            #expect(completed["event_type"] == "payment.completed")
            #expect(completed["service"] == "payment-service-python")
            #expect(Timestamp.parse(completed["timestamp"]?.stringValue ?? "") != nil)
            #expect(completed["data"] == created.data)
            #expect(completed["data"]?["book_id"] == "book-9")
            #expect(completed["data"]?["amount"] == .number("19.90"))
            #expect(messages[0].exchange == Exchanges.payment)
            #expect(messages[0].contentType == "application/json")
            #expect(messages[0].headers["X-Request-ID"] == requestID)
            #expect(messages[0].headers["traceparent"]?.hasPrefix("00-\(requestID)-") == true)

            let refund = try JSON.parse(messages[1].body)
            #expect(refund["event_type"] == "payment.refunded")
            #expect(refund["data"] == stored.data)
            #expect(refund["data"]?["status"] == "refunded")

            let metrics = try await client.send(.get, "/metrics")
            #expect(
                metrics.text.contains(
                    #"messages_published_total{service="payment-service-python",exchange="payment_exchange",routing_key="payment.completed",outcome="success"} 1"#
                )
            )
        }
    }

    @Test func javaEventsAreFlatAndCamelCase() async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.testQueue)
        let token = self.tokens.user()
        try await Flavour.java.build(bus: bus).application.test(.router) { client in
            let created = try await client.send(
                .post,
                "/api/payments",
                token: token,
                json: Flavour.java.paymentBody(bookID: "book-9"),
                headers: [.requestID: "req-java-1"]
            )
            let id = try #require(created.data?["paymentId"]?.stringValue)
            try await client.send(.post, "/api/payments/\(id)/refund", token: token)

            let messages = try await waitForMessages(bus, in: Self.testQueue.name, count: 2)
            #expect(messages.map(\.routingKey) == ["payment.completed", "payment.refunded"])
            let event = try JSON.parse(messages[0].body)
            #expect(
                event.objectValue?.keys == [
                    "eventType", "service", "paymentId", "orderId", "userId", "amount", "currency", "status", "transactionId", "message", "bookId",
                    "timestamp",
                ]
            )
            #expect(event["eventType"] == "payment.completed")
            #expect(event["service"] == "payment-service-java")
            #expect(event["paymentId"]?.stringValue == id)
            #expect(event["orderId"] == "order-1")
            #expect(event["userId"] == "user-1")
            #expect(event["amount"] == .number("19.90"))
            #expect(event["currency"] == "USD")
            #expect(event["status"] == "COMPLETED")
            #expect(event["transactionId"] == created.data?["transactionId"])
            #expect(event["bookId"] == "book-9")
            #expect(messages[0].headers["X-Request-ID"] == "req-java-1")
            #expect(messages[0].headers["traceparent"] != nil)
            let refund = try JSON.parse(messages[1].body)
            #expect(refund["eventType"] == "payment.refunded")
            #expect(refund["status"] == "REFUNDED")
        }
    }

    @Test(arguments: Flavour.allCases)
    func declinesArePublishedAsFailed(_ flavour: Flavour) async throws {
        let bus = InProcessEventBus()
        try await bus.declareQueue(Self.testQueue)
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0"], bus: bus).application.test(.router) { client in
            // A replay publishes nothing new.
            for _ in 0..<2 {
                try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: [.idempotencyKey: "k"])
            }
            let messages = try await waitForMessages(bus, in: Self.testQueue.name, count: 1)
            try await Task.sleep(for: .milliseconds(20))
            #expect(bus.pendingMessages(in: Self.testQueue.name).count == 1)
            #expect(messages.first?.routingKey == "payment.failed")
            let event = try JSON.parse(try #require(messages.first).body)
            switch flavour {
            case .python:
                #expect(event["event_type"] == "payment.failed")
                #expect(event["data"]?["status"] == "failed")
                #expect(event["data"]?["transaction_id"] == .null)
            case .java:
                #expect(event["eventType"] == "payment.failed")
                #expect(event["status"] == "FAILED")
                #expect(event["transactionId"] == nil)
                #expect(event["message"] == "Payment declined by gateway")
            }
        }
    }
}
