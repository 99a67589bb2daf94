import Foundation
import JSONKit

extension CheckContext {
    /// A review body for `user` on `bookID`.
    public func reviewBody(
        bookID: String,
        userID: String,
        rating: JSON = 4,
        title: String = "Worth reading",
        comment: String = "Clear and useful."
    ) -> JSON {
        ["book_id": .string(bookID), "user_id": .string(userID), "rating": rating, "title": .string(title), "comment": .string(comment)]
    }

    /// Creates a review through the gateway; fails unless it answers 201.
    public func createReview(by user: TestUser, bookID: String, rating: JSON = 4) async throws -> (response: HTTPResponse, review: JSON) {
        let response = try await self.http.post(
            "/api/reviews",
            json: self.reviewBody(bookID: bookID, userID: user.id, rating: rating),
            token: user.token
        )
        guard response.status == 201, let review = response.json, review["review_id"]?.stringValue != nil else {
            throw CheckFailure(expected: "POST /api/reviews to answer 201 with the review", seen: "\(response.status) \(response.excerpt)")
        }
        return (response, review)
    }
}

extension ContractsSuite {
    static var reviewChecks: [Check] {
        [
            self.check("API-REVIEWS-CREATE-201", "POST /api/reviews creates an active, unverified review and answers 201") { context in
                let alice = try await context.user("alice")
                let book = await context.uniqueName("book")
                let body = context.reviewBody(bookID: book, userID: alice.id, rating: 5).objectValue ?? [:]
                var tampered = body
                tampered["verified_purchase"] = true
                tampered["helpful_count"] = 99
                let response = try await context.http.post("/api/reviews", json: .object(tampered), token: alice.token)
                try context.expectContract(response, status: 201)
                let review = try context.json(response)
                try context.require(
                    review["rating"] == 5 && review["status"] == "active" && review["verified_purchase"] == false && review["helpful_count"] == 0,
                    expected: "rating 5, status active, verified_purchase false (never from the client), helpful_count 0",
                    seen: review.text
                )
            },
            self.check("API-REVIEWS-CREATE-400", "Invalid reviews answer 400: rating 0, 6, 4.5, \"5\", true; blank title; long comment; missing book")
            { context in
                let alice = try await context.user("alice")
                let book = await context.uniqueName("book")
                let valid = context.reviewBody(bookID: book, userID: alice.id).objectValue ?? [:]
                let cases: [(String, JSON?, String)] = [
                    ("rating", 0, "rating 0"), ("rating", 6, "rating 6"), ("rating", .number("4.5"), "rating 4.5"),
                    ("rating", "5", "rating as a string"), ("rating", true, "rating as a boolean"), ("title", "   ", "a blank title"),
                    ("title", .string(String(repeating: "t", count: 201)), "a 201-character title"),
                    ("comment", .string(String(repeating: "c", count: 2001)), "a 2001-character comment"), ("book_id", nil, "no book id"),
                ]
                for (key, value, label) in cases {
                    var body = valid
                    body[key] = value
                    let response = try await context.http.post("/api/reviews", json: .object(body), token: alice.token)
                    try context.expectContract(response, status: 400, because: label)
                }
            },
            self.check("API-REVIEWS-CREATE-401", "POST /api/reviews without a token answers 401") { context in
                let body = context.reviewBody(bookID: "book-1", userID: "someone")
                try context.expectContract(try await context.http.post("/api/reviews", json: body), status: 401)
            },
            self.check("API-REVIEWS-CREATE-403", "POST /api/reviews with another user's user_id answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let body = context.reviewBody(bookID: await context.uniqueName("book"), userID: bob.id)
                try context.expectContract(try await context.http.post("/api/reviews", json: body, token: alice.token), status: 403)
            },
            self.check("API-REVIEWS-CREATE-409", "A second review of the same book by the same user answers 409") { context in
                let alice = try await context.user("alice")
                let book = await context.uniqueName("book")
                _ = try await context.createReview(by: alice, bookID: book)
                let again = try await context.http.post("/api/reviews", json: context.reviewBody(bookID: book, userID: alice.id), token: alice.token)
                try context.expectContract(again, status: 409)
            },
            self.check("API-REVIEWS-CREATE-CONCURRENT", "10 parallel creates for one user and book give exactly one 201 and nine 409") { context in
                let alice = try await context.user("alice")
                let book = await context.uniqueName("book")
                let body = context.reviewBody(bookID: book, userID: alice.id)
                let http = context.http
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<10 { group.addTask { try await http.post("/api/reviews", json: body, token: alice.token).status } }
                    var statuses: [Int] = []
                    for try await status in group { statuses.append(status) }
                    return statuses.sorted()
                }
                try context.require(
                    statuses.count { $0 == 201 } == 1 && statuses.count { $0 == 409 } == 9,
                    expected: "one 201 and nine 409",
                    seen: statuses.map(String.init).joined(separator: ",")
                )
                // The answers can be right while the store is not: read back what was kept.
                let listing = try await http.get("/api/reviews/book/\(book)?page=1&limit=20")
                try context.expectStatus(listing, 200)
                let byAlice = listing.json?["reviews"]?.arrayValue?.count { $0["user_id"]?.stringValue == alice.id }
                let total = listing.json?["total"]?.intValue
                try context.require(
                    byAlice == 1 && total == 1,
                    expected: "one stored review of \(book) (total 1) after the ten parallel creates",
                    seen: "total \(total.map(String.init) ?? "none"), \(byAlice.map(String.init) ?? "no list of") reviews by the user"
                )
            },
            self.check("API-REVIEWS-GET-200", "GET /api/reviews/{id} answers the review without a token (reads are public)") { context in
                let alice = try await context.user("alice")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                let response = try await context.http.get("/api/reviews/\(id)")
                try context.expectContract(response, status: 200)
                try context.require(response.json?["review_id"]?.stringValue == id, expected: "review \(id)", seen: response.excerpt)
            },
            self.check("API-REVIEWS-GET-404", "GET /api/reviews/{id} of an unknown review answers 404") { context in
                try context.expectContract(try await context.http.get("/api/reviews/\(self.unknownID)"), status: 404)
            },
            self.check("API-REVIEWS-UPDATE-200", "PUT /api/reviews/{id} by the owner changes rating, title and comment") { context in
                let alice = try await context.user("alice")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                let response = try await context.http.put(
                    "/api/reviews/\(id)",
                    json: ["rating": 2, "title": "Second thoughts", "comment": "Less good on a second read."],
                    token: alice.token
                )
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["rating"] == 2 && response.json?["title"] == "Second thoughts",
                    expected: "rating 2 and the new title",
                    seen: response.excerpt
                )
            },
            self.check("API-REVIEWS-UPDATE-400", "PUT /api/reviews/{id} re-validates: rating 4.5, rating \"3\", blank comment answer 400") {
                context in
                let alice = try await context.user("alice")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                for body: JSON in [["rating": .number("4.5")], ["rating": "3"], ["comment": " "]] {
                    try context.expectContract(try await context.http.put("/api/reviews/\(id)", json: body, token: alice.token), status: 400)
                }
            },
            self.check("API-REVIEWS-UPDATE-403", "PUT /api/reviews/{id} by another user answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectContract(try await context.http.put("/api/reviews/\(id)", json: ["rating": 1], token: bob.token), status: 403)
            },
            self.check("API-REVIEWS-UPDATE-404", "PUT /api/reviews/{id} of an unknown review answers 404") { context in
                let alice = try await context.user("alice")
                try context.expectContract(
                    try await context.http.put("/api/reviews/\(self.unknownID)", json: ["rating": 1], token: alice.token),
                    status: 404
                )
            },
            self.check("API-REVIEWS-DELETE-200", "DELETE /api/reviews/{id} by the owner soft-deletes; get, update and helpful then answer 404") {
                context in
                let alice = try await context.user("alice")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectContract(try await context.http.delete("/api/reviews/\(id)", token: alice.token), status: 200)
                try context.expectContract(try await context.http.get("/api/reviews/\(id)"), status: 404)
                try context.expectContract(try await context.http.put("/api/reviews/\(id)", json: ["rating": 3], token: alice.token), status: 404)
                try context.expectContract(try await context.http.post("/api/reviews/\(id)/helpful", token: alice.token), status: 404)
                try context.expectContract(try await context.http.delete("/api/reviews/\(id)", token: alice.token), status: 404)
            },
            self.check("API-REVIEWS-DELETE-403", "DELETE /api/reviews/{id} by another (non-admin) user answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectContract(try await context.http.delete("/api/reviews/\(id)", token: bob.token), status: 403)
            },
            self.check("API-REVIEWS-DELETE-ADMIN", "An admin may delete any review") { context in
                let admin = try await context.admin()
                let alice = try await context.user("alice")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectContract(try await context.http.delete("/api/reviews/\(id)", token: admin.token), status: 200)
            },
            self.check("API-REVIEWS-DELETE-401", "DELETE /api/reviews/{id} without a token answers 401") { context in
                try context.expectContract(try await context.http.delete("/api/reviews/\(self.unknownID)"), status: 401)
            },
            self.check("API-REVIEWS-HELPFUL-200", "POST /api/reviews/{id}/helpful increments helpful_count") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                let first = try await context.http.post("/api/reviews/\(id)/helpful", token: bob.token)
                try context.expectContract(first, status: 200)
                let second = try await context.http.post("/api/reviews/\(id)/helpful", token: alice.token)
                try context.expectContract(second, status: 200)
                try context.require(second.json?["helpful_count"] == 2, expected: "helpful_count 2 after two calls", seen: second.excerpt)
            },
            self.check("API-REVIEWS-HELPFUL-404", "POST /api/reviews/{id}/helpful of an unknown review answers 404; without a token 401") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.post("/api/reviews/\(self.unknownID)/helpful", token: alice.token), status: 404)
                try context.expectContract(try await context.http.post("/api/reviews/\(self.unknownID)/helpful"), status: 401)
            },
            self.check("API-REVIEWS-BOOK-LIST-200", "GET /api/reviews/book/{id} pages a book's active reviews, newest first") { context in
                let book = await context.uniqueName("book")
                var ids: [String] = []
                for label in ["r1", "r2", "r3"] {
                    let reviewer = try await context.user(label)
                    ids.append(try await context.createReview(by: reviewer, bookID: book).review["review_id"]?.stringValue ?? "")
                }
                let response = try await context.http.get("/api/reviews/book/\(book)?page=1&limit=2")
                try context.expectContract(response, status: 200)
                let json = try context.json(response)
                let listed = json["reviews"]?.arrayValue?.compactMap { $0["review_id"]?.stringValue } ?? []
                try context.require(
                    json["total"] == 3 && json["count"] == 2 && json["page"] == 1 && json["limit"] == 2 && listed.first == ids.last,
                    expected: "total 3, count 2, page 1, limit 2, newest (\(ids.last ?? "")) first",
                    seen: "total \(json["total"]?.text ?? "-"), count \(json["count"]?.text ?? "-"), first \(listed.first ?? "-")"
                )
                let second = try await context.http.get("/api/reviews/book/\(book)?page=2&limit=2")
                try context.expectContract(second, status: 200)
                try context.require(second.json?["count"] == 1, expected: "1 review on page 2", seen: second.excerpt)
            },
            self.check("API-REVIEWS-BOOK-LIST-400", "GET /api/reviews/book/{id} with page 0, limit 0, limit 101 or page=abc answers 400") { context in
                for query in ["page=0", "limit=0", "limit=101", "page=abc", "limit=1.5"] {
                    try context.expectContract(try await context.http.get("/api/reviews/book/some-book?\(query)"), status: 400)
                }
            },
            self.check("API-REVIEWS-USER-LIST-200", "GET /api/reviews/user/{id} pages a user's active reviews") { context in
                let user = try await context.freshUser("reviewer")
                for _ in 0..<2 { _ = try await context.createReview(by: user, bookID: await context.uniqueName("book")) }
                let response = try await context.http.get("/api/reviews/user/\(user.id)?page=1&limit=20")
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["total"] == 2 && response.json?["user_id"]?.stringValue == user.id,
                    expected: "total 2 for user \(user.id)",
                    seen: response.excerpt
                )
            },
            self.check("API-REVIEWS-USER-LIST-400", "GET /api/reviews/user/{id} with an invalid page or limit answers 400") { context in
                try context.expectContract(try await context.http.get("/api/reviews/user/someone?page=-1"), status: 400)
                try context.expectContract(try await context.http.get("/api/reviews/user/someone?limit=x"), status: 400)
            },
            self.check("API-REVIEWS-STATS-200", "GET /api/reviews/book/{id}/stats gives the average (2 dp), total and distribution of active reviews")
            { context in
                let book = await context.uniqueName("book")
                for (label, rating) in [("s1", 5), ("s2", 4), ("s3", 4)] {
                    _ = try await context.createReview(by: try await context.user(label), bookID: book, rating: .int(rating))
                }
                let response = try await context.http.get("/api/reviews/book/\(book)/stats")
                try context.expectContract(response, status: 200)
                let json = try context.json(response)
                let average = json["average_rating"]?.doubleValue ?? -1
                try context.require(
                    abs(average - 4.33) < 0.001 && json["total_reviews"] == 3 && json["rating_distribution"]?["4"] == 2
                        && json["rating_distribution"]?["5"] == 1 && json["rating_distribution"]?["1"] == 0,
                    expected: "average 4.33, total 3, distribution {4: 2, 5: 1, others 0}",
                    seen: json.text
                )
                let empty = try await context.http.get("/api/reviews/book/\(await context.uniqueName("nobook"))/stats")
                try context.expectContract(empty, status: 200)
                try context.require(
                    empty.json?["total_reviews"] == 0 && empty.json?["average_rating"]?.doubleValue == 0,
                    expected: "zeros for a book without reviews",
                    seen: empty.excerpt
                )
            },
            self.check("API-REVIEWS-HEALTH", "GET /api/reviews/health, /health/live and /health/ready answer the service's health documents") {
                context in
                let health = try await context.http.get("/api/reviews/health")
                try context.expectContract(health, status: 200)
                try context.require(health.json?["service"] == "review-service", expected: "service review-service", seen: health.excerpt)
                try context.expectContract(try await context.http.get("/api/reviews/health/live"), status: 200)
                try context.expectContract(try await context.http.get("/api/reviews/health/ready"), status: 200)
            },
        ]
    }
}
