import BookstoreCore
import BookstoreTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// The Java-flavoured payment service with `STORAGE=postgres`, through its HTTP API.
@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's PostgreSQL"))
struct PostgresPaymentServiceTests {
    static let secret = "payments-integration-secret-0123456789-abcdef"
    let token = TestTokens(secret: Self.secret).user("user-1")

    func settings(_ extra: [String: String]) -> Settings {
        IntegrationEnvironment.settings.with(
            [
                "JWT_SECRET": Self.secret, "PORT": "0", "LOG_LEVEL": "error", "ACCESS_LOG": "false", "STORAGE": "postgres",
                "PAYMENT_PROCESSING_MS": "100", "PAYMENT_SUCCESS_RATE": "1", "PAYMENT_RETRY_BASE_MS": "0",
            ].merging(extra) { _, new in new }
        )
    }

    /// The Java flavour on a fresh database, once it reports ready; the database is dropped afterwards.
    func withService(
        _ extra: [String: String] = [:],
        bus: InProcessEventBus = InProcessEventBus(),
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let database = IntegrationEnvironment.uniqueName("payment_db_test")
        let built = try await PaymentsJavaApp.build(settings: self.settings(extra.merging(["POSTGRES_DB": database]) { _, new in new }), bus: bus)
        try await PostgresPaymentTestDatabase.dropAfterwards(database) {
            try await built.application.test(.router) { client in
                let deadline = ContinuousClock.now + .seconds(20)
                var ready = try await client.send(.get, "/actuator/health/readiness")
                while ready.status != .ok, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                    ready = try await client.send(.get, "/actuator/health/readiness")
                }
                try #require(ready.status == .ok, "the service reports ready once the database is migrated")
                try await body(client)
            }
        }
    }

    func body(order: String = "order-1") -> JSON {
        ["orderId": .string(order), "userId": "user-1", "amount": .number("19.90"), "currency": "EUR", "paymentMethod": "PAYPAL"]
    }

    @Test func twentyParallelIdenticalRequestsChargeOnce() async throws {
        let bus = InProcessEventBus()
        let queue = QueueSpec(name: "test.postgres-payment-events", bindings: [.init(exchange: Exchanges.payment, pattern: "payment.#")])
        try await bus.declareQueue(queue)
        try await self.withService(bus: bus) { client in
            for headers: HTTPFields in [[:], [.idempotencyKey: "key-1"]] {
                let order = headers.isEmpty ? "order-unkeyed" : "order-keyed"
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            try await client.send(.post, "/api/payments", token: self.token, json: self.body(order: order), headers: headers)
                        }
                    }
                    return try await group.reduce(into: [Reply]()) { $0.append($1) }
                }
                #expect(replies.allSatisfy { $0.status == .created }, "\(replies.map(\.status))")
                let ids = Set(replies.compactMap { $0.json["data"]?["paymentId"]?.stringValue })
                #expect(ids.count == 1, "every request answers the one payment")
                #expect(replies.filter(\.isReplay).count == 19)
                #expect(replies.allSatisfy { $0.json["data"]?["amount"] == .number("19.90") })
            }
            let list = try await client.send(.get, "/api/payments/user/user-1?page=1&limit=10", token: self.token)
            #expect(list.status == .ok)
            #expect(list.json["data"]?["total"] == .int(2))
            #expect(list.json["data"]?["payments"]?[0]?["orderId"] == "order-keyed", "newest first")
        }
        #expect(bus.pendingMessages(in: queue.name).count == 2, "one payment.completed per charge")
    }

    @Test func paymentsAreStoredReadAndRefunded() async throws {
        try await self.withService(["PAYMENT_PROCESSING_MS": "0"]) { client in
            let created = try await client.send(.post, "/api/payments", token: self.token, json: self.body())
            #expect(created.status == .created)
            let id = try #require(created.json["data"]?["paymentId"]?.stringValue)
            let shown = try await client.send(.get, "/api/payments/\(id)", token: self.token)
            #expect(shown.status == .ok)
            #expect(shown.json["data"] == created.json["data"])
            #expect(shown.json["data"]?["status"] == "COMPLETED")
            #expect(shown.json["data"]?["currency"] == "EUR")

            let refunded = try await client.send(.post, "/api/payments/\(id)/refund", token: self.token)
            #expect(refunded.status == .ok)
            #expect(refunded.json["data"]?["status"] == "REFUNDED")
            #expect(refunded.json["data"]?["refundedAt"]?.stringValue != nil)
            let again = try await client.send(.post, "/api/payments/\(id)/refund", token: self.token)
            #expect(again.status == .conflict)
            #expect(try await client.send(.get, "/api/payments/\(id)", token: self.token).json["data"]?["status"] == "REFUNDED")
            #expect(try await client.send(.get, "/api/payments/not-a-payment", token: self.token).status == .notFound)
        }
    }

    @Test func anUnreachableDatabaseAnswers503AndNotReady() async throws {
        let settings = self.settings(["STORAGE": "postgresql", "POSTGRES_PORT": "9", "POSTGRES_DB": "nowhere", "POSTGRES_QUERY_TIMEOUT_MS": "500"])
        try await PaymentsJavaApp.build(settings: settings, bus: InProcessEventBus()).application.test(.router) { client in
            #expect(try await client.send(.get, "/actuator/health/liveness").status == .ok)
            let ready = try await client.send(.get, "/actuator/health/readiness")
            #expect(ready.status == .serviceUnavailable)
            let start = ContinuousClock.now
            let reply = try await client.send(.post, "/api/payments", token: self.token, json: self.body())
            #expect(reply.status == .serviceUnavailable)
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(!reply.text.contains("PSQL") && !reply.text.contains("Connection"), "no driver details: \(reply.text)")
            #expect(try await client.send(.get, "/api/payments/user/user-1", token: self.token).status == .serviceUnavailable)
        }
    }

    @Test func postgresIsTheJavaFlavoursStoreOnly() async throws {
        await #expect(throws: ConfigurationError.self) {
            _ = try await PaymentsPythonApp.build(settings: self.settings([:]), bus: InProcessEventBus())
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await PaymentsJavaApp.build(settings: self.settings(["POSTGRES_DB": "bad-name"]), bus: InProcessEventBus())
        }
    }
}

extension Reply {
    /// Whether the service answered an earlier result (`Idempotent-Replayed: true`).
    fileprivate var isReplay: Bool { self.headers.contains { $0.name.canonicalName == "idempotent-replayed" && $0.value == "true" } }
}
