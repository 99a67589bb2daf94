import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct ServiceTests {
    @Test func healthEndpoints() async throws {
        try await Harness.run { app in
            let health = try await app.send(.get, "/api/health")
            #expect(health.code == 200)
            #expect(health.json == ["status": "healthy", "service": "review-service", "version": "1.0.0"])
            #expect(try await app.send(.get, "/api/health/live").json == ["status": "UP"])
            let ready = try await app.send(.get, "/api/health/ready")
            #expect(ready.code == 200)
            #expect(ready.json == ["status": "READY", "checks": ["database": "UP", "broker": "UP"]])
        }
    }

    /// A bus whose broker is unreachable: publishes are still taken (as the AMQP bus takes them into its outbox).
    struct UnreachableBrokerBus: EventBus {
        let inner = InProcessEventBus()
        func declareExchanges(_ names: [String]) async throws { try await self.inner.declareExchanges(names) }
        func declareQueue(_ spec: QueueSpec) async throws { try await self.inner.declareQueue(spec) }
        func publish(_ message: EventMessage) async throws { try await self.inner.publish(message) }
        func consume(queue: String, prefetch: Int, handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome) async throws {
            try await self.inner.consume(queue: queue, prefetch: prefetch, handler: handler)
        }
        func isHealthy() async -> Bool { false }
    }

    /// SPEC §3: a broker outage is ridden out with the outbox; readiness reports it but stays 200, so the gateway
    /// and Kubernetes keep every replica in rotation, and writes keep working.
    @Test func anUnreachableBrokerIsReportedButDoesNotFailReadiness() async throws {
        let built = try await ReviewsApp.build(settings: Fixture.settings([:]), bus: UnreachableBrokerBus())
        try await built.application.test(.router) { client in
            let ready = try await client.execute(uri: "/api/health/ready", method: .get) { $0 }
            #expect(ready.status == .ok)
            #expect(try JSON.parse(Array(buffer: ready.body)) == ["status": "READY", "checks": ["database": "UP", "broker": "DOWN"]])
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains(#"dependency_up{service="review-service",dependency="broker"} 0"#), "\(metrics)")
            #expect(metrics.contains(#"dependency_up{service="review-service",dependency="database"} 1"#))
            let token = try await Fixture.token(Fixture.alice)
            let created = try await client.execute(
                uri: "/api/reviews",
                method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(bytes: Fixture.reviewBody().bytes)
            ) { $0.status }
            #expect(created == .created)
        }
    }

    @Test func unknownRoutesAnswerJSON404() async throws {
        try await Harness.run { app in
            for (method, path) in [(HTTPRequest.Method.get, "/api/nothing"), (.get, "/"), (.post, "/api/reviews/book/b1"), (.patch, "/api/reviews")] {
                let reply = try await app.send(method, path)
                #expect(reply.code == 404 || reply.code == 405, "\(method) \(path)")
                #expect(reply.error != nil, "\(method) \(path): \(reply.text)")
                #expect(reply.contentType?.hasPrefix("application/json") == true)
            }
        }
    }

    @Test func requestIDsAreHonouredOrCreated() async throws {
        try await Harness.run { app in
            let given = try await app.send(.get, "/api/health", headers: [.requestID: "my-request-42"])
            #expect(given.headers[.requestID] == "my-request-42")
            let created = try await app.send(.get, "/api/health")
            #expect(created.headers[.requestID].flatMap(UUID.init(uuidString:)) != nil)
        }
    }

    @Test func metricsUseRouteTemplates() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            #expect(try await app.send(.get, "/api/reviews/\(id)").code == 200)
            #expect(try await app.send(.get, "/api/reviews/\(UUID().uuidString)").code == 404)
            #expect(try await app.send(.get, "/api/reviews/book/book-1/stats").code == 200)
            #expect(try await app.send(.get, "/api/reviews/book/book-1?page=0").code == 400)

            let metrics = try await app.send(.get, "/metrics")
            #expect(metrics.code == 200)
            #expect(metrics.contentType?.hasPrefix("text/plain") == true)
            let text = MetricsText(bytes: metrics.bytes)
            func requests(_ method: String, _ route: String, _ status: String) -> Double? {
                text.value("http_requests_total", ["service": "review-service", "method": method, "route": route, "status": status])
            }
            #expect(requests("POST", "/api/reviews", "201") == 1)
            #expect(requests("GET", "/api/reviews/{review_id}", "200") == 1)
            #expect(requests("GET", "/api/reviews/{review_id}", "404") == 1)
            #expect(requests("GET", "/api/reviews/book/{book_id}/stats", "200") == 1)
            #expect(requests("GET", "/api/reviews/book/{book_id}", "400") == 1)
            #expect(!metrics.text.contains(id), "raw paths must not become labels")
            #expect(
                text.value("http_request_duration_seconds_count", ["method": "POST", "route": "/api/reviews", "status": "201"]) == 1
            )
            #expect(metrics.text.contains("http_request_duration_seconds_bucket{"))
            #expect(metrics.text.contains("process_resident_memory_bytes"))
            #expect(metrics.text.contains("process_cpu_seconds_total"))
        }
    }

    @Test func storageAndSecretsAreCheckedAtStartUp() async throws {
        for (settings, fragment) in [
            (["STORAGE": "mongodb"], "STORAGE=mongodb"),
            (["STORAGE": "cassandra"], "STORAGE"),
            (["JWT_SECRET": "short"], "JWT_SECRET"),
            (["PORT": "99999"], "PORT"),
        ] {
            do {
                _ = try await ReviewsApp.build(settings: Fixture.settings(settings), bus: InProcessEventBus())
                Issue.record("build succeeded with \(settings)")
            } catch let error as ConfigurationError {
                #expect(error.description.contains(fragment), "\(error.description)")
            }
        }
    }

    @Test func defaultsToTheReviewServicePort() async throws {
        var environment = ["JWT_SECRET": Fixture.secret]
        let built = try await ReviewsApp.build(settings: Settings(environment: environment), bus: InProcessEventBus())
        #expect(built.scaffold.common.port == 5002)
        #expect(built.scaffold.common.serviceName == "review-service")
        environment["SERVICE_NAME"] = "review-service-2"
        let renamed = try await ReviewsApp.build(settings: Settings(environment: environment), bus: InProcessEventBus())
        #expect(renamed.scaffold.common.serviceName == "review-service-2")
    }

    @Test func declaresItsExchangesAndQueues() async throws {
        let bus = InProcessEventBus()
        _ = try await ReviewsApp.build(settings: Fixture.settings(), bus: bus)
        // A payment event published before the consumers start is queued, not lost to `unrouted`.
        try await bus.publish(EventMessage(exchange: Exchanges.payment, routingKey: "payment.completed", body: Array("{}".utf8)))
        try await bus.publish(EventMessage(exchange: Exchanges.user, routingKey: "user.deleted", body: Array("{}".utf8)))
        #expect(bus.pendingMessages(in: "review_payment_events").count == 1)
        #expect(bus.pendingMessages(in: "review_user_events").count == 1)
        #expect(bus.pendingMessages(in: Exchanges.unroutedQueue).isEmpty)
    }

    @Test func errorEnvelopes() {
        let validation = ReviewsApp.renderError(
            .validation([FieldError(field: "rating", message: "rating is required"), FieldError(field: "title", message: "title is required")]),
            "rid"
        )
        #expect(validation == ["errors": ["rating is required", "title is required"]])
        #expect(ReviewsApp.renderError(.badRequest("Malformed JSON"), "rid") == ["errors": ["Malformed JSON"]])
        #expect(ReviewsApp.renderError(.notFound("Review not found"), "rid") == ["error": "Review not found"])
        #expect(ReviewsApp.renderError(.unexpected, "rid") == ["error": "Internal server error"])
    }
}
