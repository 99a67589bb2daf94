import BookstoreCore
import BookstoreRuntime
import BookstoreTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import Logging
import Testing

/// Runs the four backend services on loopback ports with one in-process bus, then a gateway routed to them.
func withEmbeddedSystem(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    let bus = InProcessEventBus()
    let base = Settings(environment: [
        "LOG_LEVEL": "critical", "ACCESS_LOG": "false", "PAYMENT_PROCESSING_MS": "0", "PAYMENT_SUCCESS_RATE": "1", "BCRYPT_COST": "4",
    ])
    let perService = try Runtime.embeddedSettings(base)
    try await withThrowingTaskGroup(of: Void.self) { group in
        var upstreams: [String: String] = [:]
        for (kind, settings) in perService where kind != .gateway {
            let (stream, continuation) = AsyncStream<Int>.makeStream()
            let built = try await kind.builder(settings.with(["PORT": "0"]), bus) { port in
                continuation.yield(port)
                continuation.finish()
            }
            group.addTask { try await built.application.run() }
            for await port in stream { upstreams[try #require(kind.upstreamSetting)] = "http://127.0.0.1:\(port)" }
        }
        let gatewaySettings = try #require(perService.first { $0.0 == .gateway }?.1).with(upstreams)
        let gateway = try await ServiceKind.gateway.builder(gatewaySettings, bus) { _ in }
        try await gateway.application.test(.router) { client in try await body(client) }
        group.cancelAll()
    }
}

/// Sends a request through the gateway (always as JSON) and checks it answered as the gateway.
func call(
    _ client: any TestClientProtocol,
    _ method: HTTPRequest.Method,
    _ path: String,
    json: JSON? = nil,
    token: String? = nil
) async throws -> (status: HTTPResponse.Status, json: JSON) {
    let reply = try await client.send(method, path, token: token, json: json, headers: [.contentType: "application/json"])
    #expect(reply.headers[.gatewayService] == "bookstore-gateway" || reply.status == .unauthorized)
    return (reply.status, reply.json)
}

@Suite(.serialized) struct EmbeddedSystemTests {
    @Test func seedReadmeSmokeCallsAnswer200ThroughTheGateway() async throws {
        try await withEmbeddedSystem { client in
            #expect(try await call(client, .get, "/api/users/health").json["service"] == "user-service")
            #expect(try await call(client, .get, "/api/payments-python/health").json["service"] == "payment-service-python")
            let java = try await call(client, .get, "/api/payments-java/actuator/health")
            #expect(java.status == .ok)
            #expect(java.json["status"] == "UP")
            #expect(try await call(client, .get, "/api/reviews/health").json["service"] == "review-service")
        }
    }

    @Test func walkThroughRegisterLoginPayReviewStats() async throws {
        try await withEmbeddedSystem { client in
            let registration: JSON = [
                "username": "walker", "email": "walker@example.com", "password": "secret123", "firstName": "W", "lastName": "K",
            ]
            #expect(try await call(client, .post, "/api/auth/register", json: registration).status == .created)
            let login = try await call(client, .post, "/api/auth/login", json: ["usernameOrEmail": "walker", "password": "secret123"])
            let token = try #require(login.json["token"]?.stringValue)
            let userID = try #require(login.json["userId"]?.stringValue)

            let payment = try await call(
                client,
                .post,
                "/api/payments-python",
                json: ["order_id": "o-1", "user_id": .string(userID), "amount": .number("19.90"), "book_id": "book-7"],
                token: token
            )
            #expect(payment.status == .ok)
            #expect(payment.json["data"]?["status"] == "completed")

            // The review service learns about the purchase from the payment.completed event.
            var review: (status: HTTPResponse.Status, json: JSON) = (.internalServerError, .null)
            let body: JSON = ["book_id": "book-7", "user_id": .string(userID), "rating": 4, "title": "Good", "comment": "Worth it"]
            let deadline = ContinuousClock.now + .seconds(5)
            repeat {
                review = try await call(client, .post, "/api/reviews", json: body, token: token)
                if review.json["verified_purchase"] == true { break }
                if review.status == .created, let id = review.json["review_id"]?.stringValue {
                    _ = try await call(client, .delete, "/api/reviews/\(id)", token: token)
                }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            #expect(review.status == .created)
            #expect(review.json["verified_purchase"] == true)

            let stats = try await call(client, .get, "/api/reviews/book/book-7/stats")
            #expect(stats.json["total_reviews"] == 1)
            #expect(stats.json["average_rating"] == .number("4.00"))
            let page = try await call(client, .get, "/api/reviews/book/book-7?page=1&limit=20")
            #expect(page.json["reviews"]?.arrayValue?.count == 1)

            let java = try await call(
                client,
                .post,
                "/api/payments-java",
                json: ["orderId": "o-2", "userId": .string(userID), "amount": .number("5.5"), "currency": "eur"],
                token: token
            )
            #expect(java.status == .created)
            #expect(java.json["data"]?["amount"] == .number("5.50"))
            #expect(java.json["data"]?["status"] == "COMPLETED")
        }
    }

    @Test func embeddedSettingsGiveEachServiceItsPortAndPointTheGatewayAtThem() throws {
        let perService = try Runtime.embeddedSettings(Settings(environment: ["USERS_PORT": "9181", "PORT": "1", "SERVICE_NAME": "x"]))
        let byKind = Dictionary(uniqueKeysWithValues: perService.map { ($0.0, $0.1) })
        #expect(byKind[.users]?["PORT"] == "9181")
        #expect(byKind[.reviews]?["PORT"] == "5002")
        #expect(byKind[.gateway]?["USER_SERVICE_URL"] == "http://127.0.0.1:9181")
        #expect(byKind[.gateway]?["SERVICE_NAME"] == nil, "a shared SERVICE_NAME would give every service the same name")
        #expect(byKind[.users]?["JWT_SECRET"] == Runtime.embeddedDevelopmentSecret)
        #expect(byKind[.reviews]?["TRUSTED_PROXIES"] == "127.0.0.1,::1", "the services trust the gateway on loopback")
        #expect(byKind[.gateway]?["TRUSTED_PROXIES"] == nil && byKind[.gateway]?["GATEWAY_TRUSTED_PROXIES"] == nil)
        #expect(throws: ConfigurationError.self) {
            try Runtime.makeEventBus(settings: Settings(environment: ["EVENT_BUS": "kafka"]), logger: Logger(label: "test"))
        }
        let (memory, memoryServices) = try Runtime.makeEventBus(settings: Settings(environment: [:]), logger: Logger(label: "test"))
        #expect(memory is InProcessEventBus && memoryServices.isEmpty)
        let (amqp, amqpServices) = try Runtime.makeEventBus(
            settings: Settings(environment: ["EVENT_BUS": "rabbitmq", "RABBITMQ_HOST": "127.0.0.1"]),
            logger: Logger(label: "test")
        )
        #expect(!(amqp is InProcessEventBus) && amqpServices.count == 1, "constructing the AMQP bus does not need the broker")
    }
}
