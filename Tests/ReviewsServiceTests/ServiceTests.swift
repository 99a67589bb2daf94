import BookstoreCore
import Foundation
import HTTPTypes
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
