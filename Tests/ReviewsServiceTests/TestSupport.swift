import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import NIOCore
import Testing

@testable import ReviewsService

/// Settings, identities and tokens shared by the tests.
enum Fixture {
    static let secret = "reviews-service-test-secret-0123456789-abcdef"
    static let maxBodyBytes = 16_384

    static func settings(_ extra: [String: String] = [:]) -> Settings {
        Settings(
            environment: [
                "JWT_SECRET": secret,
                "PORT": "0",
                "LOG_LEVEL": "critical",
                "ACCESS_LOG": "false",
                "MAX_BODY_BYTES": String(maxBodyBytes),
            ],
            overrides: extra
        )
    }

    static let alice = Identity(userID: "user-alice", username: "alice", email: "alice@example.com", roles: [Identity.userRole])
    static let bob = Identity(userID: "user-bob", username: "bob", email: "bob@example.com", roles: [Identity.userRole])
    static let admin = Identity(
        userID: "user-admin",
        username: "admin",
        email: "admin@example.com",
        roles: [Identity.userRole, Identity.adminRole]
    )

    /// A token signed like the users service signs them (HS512 with the shared secret).
    static func token(
        _ identity: Identity,
        now: Date = Date(),
        secret: String = Fixture.secret,
        algorithm: TokenSettings.Algorithm = .hs512
    ) async throws -> String {
        TestTokens(secret: secret, algorithm: algorithm).token(for: identity, now: now)
    }

    /// An unsigned `alg: none` token carrying valid-looking claims for `identity`.
    static func unsignedToken(_ identity: Identity) -> String {
        TestTokens.unsigned(identity)
    }

    /// A valid create body; `overrides` replace or add fields, `removing` drops them.
    static func reviewBody(
        bookID: String = "book-1",
        userID: String = Fixture.alice.userID,
        overrides: JSONObject = [:],
        removing: [String] = []
    ) -> JSON {
        var object: JSONObject = [
            "book_id": .string(bookID),
            "user_id": .string(userID),
            "rating": 5,
            "title": "A great read",
            "comment": "I could not put it down.",
        ]
        for (key, value) in overrides { object[key] = value }
        for key in removing { object[key] = nil }
        return .object(object)
    }
}

extension Reply {
    /// The `{"errors": [...]}` messages of a validation failure.
    var errors: [String] { self.json["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// The `{"error": ...}` message of any other failure.
    var error: String? { self.json["error"]?.stringValue }
}

/// A review service on an in-process bus, with helpers to call it.
struct Harness: Sendable {
    let client: any TestClientProtocol
    let bus: InProcessEventBus
    let built: BuiltService

    /// Runs `body` against a fresh service.
    static func run(
        _ extra: [String: String] = [:],
        bus: InProcessEventBus = InProcessEventBus(),
        _ body: @Sendable (Harness) async throws -> Void
    ) async throws {
        let built = try await ReviewsApp.build(settings: Fixture.settings(extra), bus: bus)
        try await built.application.test(.router) { client in
            try await body(Harness(client: client, bus: bus, built: built))
        }
    }

    @discardableResult
    func send(
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = nil,
        json: JSON? = nil,
        raw: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        try await self.client.send(method, uri, token: token, json: json, body: raw, headers: extra)
    }

    /// Creates a review as `identity` and returns it, expecting 201.
    @discardableResult
    func createReview(
        as identity: Identity = Fixture.alice,
        bookID: String = "book-1",
        rating: Int = 5,
        title: String = "A great read",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSON {
        let reply = try await self.send(
            .post,
            "/api/reviews",
            token: try await Fixture.token(identity),
            json: Fixture.reviewBody(bookID: bookID, userID: identity.userID, overrides: ["rating": .int(rating), "title": .string(title)])
        )
        #expect(reply.code == 201, "create: \(reply.text)", sourceLocation: sourceLocation)
        return reply.json
    }

    /// The value of one Prometheus sample of this service's metrics, or nil when absent.
    func metric(_ name: String, _ labels: [String: String]) -> Double? {
        MetricsText(bytes: self.built.scaffold.metrics.render()).value(name, labels)
    }

    /// How many messages of `queue` were consumed with `outcome` (`success`, `dead_lettered`, …).
    func consumed(_ queue: String, outcome: String = "success") -> Int {
        Int(self.metric("messages_consumed_total", ["queue": queue, "outcome": outcome]) ?? 0)
    }

    /// Publishes a raw event body on the bus.
    func publish(exchange: String, routingKey: String, body: [UInt8], messageID: String = UUID().uuidString.lowercased()) async throws {
        try await self.bus.publish(EventMessage(exchange: exchange, routingKey: routingKey, body: body, messageID: messageID))
    }

    /// Declares a test queue bound to `review_exchange` that collects every review event.
    func bindReviewEventQueue(_ name: String = "test_review_events") async throws -> String {
        try await self.bus.declareQueue(QueueSpec(name: name, bindings: [.init(exchange: Exchanges.review, pattern: "review.#")]))
        return name
    }
}

/// Waits until `condition` holds, polling every 10 ms for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A minimal reader of the Prometheus text format: samples by name and labels.
struct MetricsText {
    let lines: [Substring]

    init(bytes: [UInt8]) {
        self.lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    /// The sample named `name` whose labels include all of `labels`.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        for line in self.lines where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let sampleLabels = Self.labels(of: series)
            guard series.hasPrefix(name + "{") || series == name else { continue }
            if labels.allSatisfy({ sampleLabels[$0.key] == $0.value }) { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    static func labels(of series: Substring) -> [String: String] {
        guard let open = series.firstIndex(of: "{"), let close = series.lastIndex(of: "}") else { return [:] }
        var result: [String: String] = [:]
        for pair in series[series.index(after: open)..<close].split(separator: "\",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            result[String(parts[0])] = String(parts[1].drop(while: { $0 == "\"" }).prefix(while: { $0 != "\"" }))
        }
        return result
    }
}
