import BookstoreCore
import BookstoreMongo
import BookstoreTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import NIOCore
import ReviewsService
import Testing

/// The review service with `STORAGE=mongodb`, through its HTTP API and its event consumers.
@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's MongoDB-wire server"))
struct MongoReviewsServiceTests {
    static let secret = "reviews-integration-secret-0123456789-abcdef"
    let tokens = TestTokens(secret: Self.secret)

    func token(_ user: String) -> String {
        self.tokens.user(user)
    }

    /// The service on a fresh database, once it reports ready; the database is dropped afterwards.
    func withService(
        _ extra: [String: String] = [:],
        bus: InProcessEventBus = InProcessEventBus(),
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let database = IntegrationEnvironment.uniqueName("review_db_test")
        let settings = IntegrationEnvironment.settings.with(
            ["JWT_SECRET": Self.secret, "PORT": "0", "LOG_LEVEL": "error", "ACCESS_LOG": "false", "STORAGE": "mongodb", "MONGO_DB": database]
                .merging(extra) { _, new in new }
        )
        let built = try await ReviewsApp.build(settings: settings, bus: bus)
        let cleanup = try MongoClient(settings: try MongoSettings(settings: settings, defaultDatabase: database))
        defer { cleanup.close() }
        do {
            try await built.application.test(.router) { client in
                let deadline = ContinuousClock.now + .seconds(20)
                var ready = try await client.send(.get, "/api/health/ready")
                while ready.status != .ok, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                    ready = try await client.send(.get, "/api/health/ready")
                }
                try #require(ready.status == .ok, "ready once the indexes exist")
                try await body(client)
            }
        } catch {
            try? await cleanup.dropDatabase(database)
            throw error
        }
        try? await cleanup.dropDatabase(database)
    }

    func review(book: String = "book-1", user: String = "user-1", rating: JSON = 4) -> JSON {
        ["book_id": .string(book), "user_id": .string(user), "rating": rating, "title": "Great", "comment": "Loved it"]
    }

    @Test func twentyParallelCreatesGiveOneCreatedAndNineteenConflicts() async throws {
        try await self.withService { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await client.send(.post, "/api/reviews", token: self.token("user-1"), json: self.review()).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 19)
            let page = try await client.send(.get, "/api/reviews/book/book-1")
            #expect(page.json["total"] == 1)
        }
    }

    @Test func aVerifiedReviewHelpfulVotesStatsAndDeletion() async throws {
        let bus = InProcessEventBus()
        try await self.withService(bus: bus) { client in
            // A payment.completed event for user-2 and book-2 makes that review verified.
            let event: JSON = [
                "event_type": "payment.completed", "service": "payment-service-python",
                "data": ["payment_id": "pay-1", "user_id": "user-2", "book_id": "book-2", "status": "completed"],
            ]
            try await bus.publish(
                EventMessage(exchange: Exchanges.payment, routingKey: "payment.completed", body: event.bytes, messageID: "m-1")
            )
            var verified = false
            let deadline = ContinuousClock.now + .seconds(10)
            var created = JSON.null
            while !verified, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                let probe = try await client.send(
                    .post,
                    "/api/reviews",
                    token: self.token("user-2"),
                    json: self.review(book: "book-2", user: "user-2", rating: 5)
                )
                if probe.status == .created {
                    created = probe.json
                    verified = probe.json["verified_purchase"] == true
                    if !verified, let id = probe.json["review_id"]?.stringValue {
                        _ = try await client.send(.delete, "/api/reviews/\(id)", token: self.token("user-2"))
                    }
                }
            }
            #expect(verified, "the consumed payment event marks the purchase")
            let id = try #require(created["review_id"]?.stringValue)

            let fetched = try await client.send(.get, "/api/reviews/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.json == created, "stored and returned identically (timestamps to the millisecond)")
            #expect(try await client.send(.post, "/api/reviews/\(id)/helpful", token: self.token("user-3")).json["helpful_count"] == 1)
            let other = try await client.send(
                .post,
                "/api/reviews",
                token: self.token("user-3"),
                json: self.review(book: "book-2", user: "user-3", rating: 2)
            )
            #expect(other.status == .created)
            let stats = try await client.send(.get, "/api/reviews/book/book-2/stats")
            #expect(stats.json["average_rating"] == .number("3.50"))
            #expect(stats.json["rating_distribution"]?["5"] == 1)
            let list = try await client.send(.get, "/api/reviews/book/book-2?page=1&limit=1")
            #expect(list.json["total"] == 2)
            #expect(list.json["reviews"]?[0]?["user_id"] == "user-3", "newest first")

            #expect(try await client.send(.delete, "/api/reviews/\(id)", token: self.token("user-2")).status == .ok)
            #expect(try await client.send(.get, "/api/reviews/\(id)").status == .notFound)
            #expect(try await client.send(.post, "/api/reviews/\(id)/helpful", token: self.token("user-3")).status == .notFound)
        }
    }

    @Test func anUnreachableDatabaseGives503NotACrash() async throws {
        let settings = IntegrationEnvironment.settings.with([
            "JWT_SECRET": Self.secret, "PORT": "0", "LOG_LEVEL": "critical", "ACCESS_LOG": "false", "STORAGE": "mongodb",
            "MONGO_URI": "mongodb://127.0.0.1:9/?directConnection=true", "MONGO_TIMEOUT_MS": "500",
        ])
        let built = try await ReviewsApp.build(settings: settings, bus: InProcessEventBus())
        try await built.application.test(.router) { client in
            let ready = try await client.send(.get, "/api/health/ready")
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.text.contains("database"))
            let write = try await client.send(.post, "/api/reviews", token: self.token("user-1"), json: self.review())
            #expect(write.status == .serviceUnavailable)
            #expect(!write.text.contains("127.0.0.1"), "no driver text reaches the client")
            #expect(try await client.send(.get, "/api/reviews/book/book-1").status == .serviceUnavailable)
            #expect(try await client.send(.get, "/api/health/live").status == .ok)
        }
    }
}
