import AsyncHTTPClient
import Foundation
import JSONKit
import NIOCore
import NIOHTTP1
import Testing

/// The end-to-end flow through a running local cluster's gateway (`ci/local-cluster up`; `BOOKSTORE_CLUSTER_URL`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BOOKSTORE_CLUSTER_URL"] != nil, "needs a running local cluster (BOOKSTORE_CLUSTER_URL)"))
struct LocalClusterEndToEndTests {
    let base = ProcessInfo.processInfo.environment["BOOKSTORE_CLUSTER_URL"] ?? ""

    func call(_ client: HTTPClient, _ method: HTTPMethod, _ path: String, json: JSON? = nil, token: String? = nil) async throws -> (Int, JSON) {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json { request.body = .bytes(ByteBuffer(bytes: json.bytes)) }
        let response = try await client.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSON.parse(Array(buffer: body))) ?? .null)
    }

    @Test func registerLoginPayAndReviewComesOutVerified() async throws {
        try await HTTPClient.withHTTPClient { client in
            let name = "e2e\(UInt32.random(in: 0...UInt32.max))"
            let registration: JSON = [
                "username": .string(name), "email": .string("\(name)@example.com"), "password": "secret123", "firstName": "E",
                "lastName": "E",
            ]
            #expect(try await self.call(client, .POST, "/api/auth/register", json: registration).0 == 201)
            let (loginStatus, login) = try await self.call(
                client,
                .POST,
                "/api/auth/login",
                json: ["usernameOrEmail": .string(name), "password": "secret123"]
            )
            #expect(loginStatus == 200)
            let token = try #require(login["token"]?.stringValue)
            let userID = try #require(login["userId"]?.stringValue)
            let book = "book-\(name)"

            // Declines are a valid outcome of the simulated processor: pay until one completes (bounded).
            var completed = false
            for attempt in 0..<10 where !completed {
                let (status, payment) = try await self.call(
                    client,
                    .POST,
                    "/api/payments-python",
                    json: [
                        "order_id": .string("order-\(name)-\(attempt)"), "user_id": .string(userID), "amount": .number("12.34"),
                        "book_id": .string(book),
                    ],
                    token: token
                )
                #expect(status == 200 || status == 402)
                completed = payment["data"]?["status"] == "completed"
            }
            #expect(completed)

            // payment.completed travels over RabbitMQ to a reviews replica; the review becomes verified.
            let review: JSON = ["book_id": .string(book), "user_id": .string(userID), "rating": 5, "title": "E2E", "comment": "Through the cluster"]
            var verified = false
            let deadline = ContinuousClock.now + .seconds(20)
            while !verified && ContinuousClock.now < deadline {
                let (status, created) = try await self.call(client, .POST, "/api/reviews", json: review, token: token)
                #expect(status == 201)
                verified = created["verified_purchase"] == true
                if !verified, let id = created["review_id"]?.stringValue {
                    _ = try await self.call(client, .DELETE, "/api/reviews/\(id)", token: token)
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            #expect(verified, "the review is verified once reviews consumed payment.completed")
            let (_, stats) = try await self.call(client, .GET, "/api/reviews/book/\(book)/stats")
            #expect(stats["total_reviews"] == 1)
        }
    }
}
