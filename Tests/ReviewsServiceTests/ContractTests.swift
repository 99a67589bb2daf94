import BookstoreCore
import BookstoreTesting
import ContractKit
import Foundation
import HTTPTypes
import JSONKit
import Synchronization
import Testing

@testable import ReviewsService

/// The committed OpenAPI document of the review service.
enum Contract {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Conformance/contracts/reviews.openapi.yaml").path

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: path) }
}

/// Real responses of every operation, success and failure, checked against the document.
@Suite(.enabled(if: Contract.isAvailable, "Conformance/contracts/reviews.openapi.yaml is not written yet"))
struct ContractTests {
    /// Sends requests and remembers each exchange for validation.
    final class Recorder: Sendable {
        let app: Harness
        let exchanges = Mutex<[(method: String, path: String, reply: Reply)]>([])

        init(_ app: Harness) {
            self.app = app
        }

        @discardableResult
        func send(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: JSON? = nil, raw: String? = nil) async throws -> Reply {
            let reply = try await self.app.send(method, path, token: token, json: json, raw: raw)
            self.exchanges.withLock { $0.append((method.rawValue, path, reply)) }
            return reply
        }
    }

    @Test func everyOperationConformsToTheDocument() async throws {
        let document = try OpenAPIDocument(contentsOf: Contract.path)
        try await Harness.run { app in
            let recorder = Recorder(app)
            let alice = try await Fixture.token(Fixture.alice)
            let bob = try await Fixture.token(Fixture.bob)
            let admin = try await Fixture.token(Fixture.admin)

            // Create: 201, 400 (both envelopes), 401, 403, 409, 413.
            let created = try await recorder.send(.post, "/api/reviews", token: alice, json: Fixture.reviewBody())
            let id = try #require(created.json["review_id"]?.stringValue)
            try await recorder.send(.post, "/api/reviews", token: alice, json: Fixture.reviewBody(overrides: ["rating": .number("4.5")]))
            try await recorder.send(.post, "/api/reviews", token: alice, raw: "{")
            try await recorder.send(.post, "/api/reviews", token: alice, raw: "[]")
            try await recorder.send(.post, "/api/reviews", token: alice)
            try await recorder.send(.post, "/api/reviews", json: Fixture.reviewBody())
            try await recorder.send(.post, "/api/reviews", token: alice, json: Fixture.reviewBody(userID: Fixture.bob.userID))
            try await recorder.send(.post, "/api/reviews", token: alice, json: Fixture.reviewBody())
            try await recorder.send(
                .post,
                "/api/reviews",
                token: alice,
                json: Fixture.reviewBody(overrides: ["comment": .string(String(repeating: "x", count: Fixture.maxBodyBytes))])
            )

            // Reads: 200, 404, 400.
            try await recorder.send(.get, "/api/reviews/\(id)")
            try await recorder.send(.get, "/api/reviews/\(UUID().uuidString.lowercased())")
            try await recorder.send(.get, "/api/reviews/book/book-1?page=1&limit=20")
            try await recorder.send(.get, "/api/reviews/book/book-1?page=0")
            try await recorder.send(.get, "/api/reviews/user/\(Fixture.alice.userID)")
            try await recorder.send(.get, "/api/reviews/user/\(Fixture.alice.userID)?limit=101")
            try await recorder.send(.get, "/api/reviews/book/book-1/stats")
            try await recorder.send(.get, "/api/reviews/book/nothing-here/stats")
            try await recorder.send(.get, "/api/reviews/book/bad$id/stats")
            try await recorder.send(.get, "/api/reviews/book/bad$id")

            // Update: 200, 400, 401, 403, 404.
            try await recorder.send(.put, "/api/reviews/\(id)", token: alice, json: ["rating": 4])
            try await recorder.send(.put, "/api/reviews/\(id)", token: alice, json: [:])
            try await recorder.send(.put, "/api/reviews/\(id)", json: ["rating": 4])
            try await recorder.send(.put, "/api/reviews/\(id)", token: bob, json: ["rating": 4])
            try await recorder.send(.put, "/api/reviews/\(UUID().uuidString.lowercased())", token: alice, json: ["rating": 4])

            // Helpful: 200, 401, 404.
            try await recorder.send(.post, "/api/reviews/\(id)/helpful", token: bob)
            try await recorder.send(.post, "/api/reviews/\(id)/helpful")
            try await recorder.send(.post, "/api/reviews/\(UUID().uuidString.lowercased())/helpful", token: bob)

            // Delete: 401, 403, 200, then 404 everywhere.
            try await recorder.send(.delete, "/api/reviews/\(id)")
            try await recorder.send(.delete, "/api/reviews/\(id)", token: bob)
            try await recorder.send(.delete, "/api/reviews/\(id)", token: alice)
            try await recorder.send(.delete, "/api/reviews/\(id)", token: admin)
            try await recorder.send(.get, "/api/reviews/\(id)")

            // Health.
            try await recorder.send(.get, "/api/health")
            try await recorder.send(.get, "/api/health/live")
            try await recorder.send(.get, "/api/health/ready")

            let exchanges = recorder.exchanges.withLock { $0 }
            let statuses = Set(exchanges.map(\.reply.code))
            #expect(statuses.isSuperset(of: [200, 201, 400, 401, 403, 404, 409, 413]))
            for exchange in exchanges {
                let violations = document.validateResponse(
                    method: exchange.method,
                    path: exchange.path,
                    status: exchange.reply.code,
                    contentType: exchange.reply.contentType,
                    body: exchange.reply.bytes
                )
                #expect(
                    violations.isEmpty,
                    "\(exchange.method) \(exchange.path) → \(exchange.reply.code) \(exchange.reply.text.prefix(300))\n\(violations.report)"
                )
                let disagreement = document.requestDisagreement(
                    method: exchange.method,
                    target: exchange.path,
                    body: exchange.reply.requestBody,
                    status: exchange.reply.code
                )
                #expect(disagreement == nil, "\(disagreement ?? "") → \(exchange.reply.text.prefix(300))")
            }
        }
    }
}
