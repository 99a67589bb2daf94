import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct CreateReviewTests {
    @Test func createsAReviewWithEveryField() async throws {
        try await Harness.run { app in
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), json: Fixture.reviewBody())
            #expect(reply.code == 201)
            #expect(reply.contentType?.hasPrefix("application/json") == true)
            let review = reply.json
            let id = try #require(review["review_id"]?.stringValue)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased())
            #expect(review["book_id"] == "book-1")
            #expect(review["user_id"] == .string(Fixture.alice.userID))
            #expect(review["rating"] == .number("5"))
            #expect(review["title"] == "A great read")
            #expect(review["comment"] == "I could not put it down.")
            #expect(review["verified_purchase"] == false)
            #expect(review["helpful_count"] == .number("0"))
            #expect(review["status"] == "active")
            let created = try #require(review["created_at"]?.stringValue)
            #expect(Timestamp.parse(created) != nil && created.hasSuffix("Z"))
            #expect(review["updated_at"]?.stringValue == created)
            #expect(
                review.objectValue?.keys == [
                    "review_id", "book_id", "user_id", "rating", "title", "comment", "verified_purchase", "helpful_count", "status",
                    "created_at", "updated_at",
                ]
            )

            let fetched = try await app.send(.get, "/api/reviews/\(id)")
            #expect(fetched.code == 200)
            #expect(fetched.json == review)
        }
    }

    @Test func trimsTitleAndCommentAndIgnoresServerControlledFields() async throws {
        try await Harness.run { app in
            let body = Fixture.reviewBody(overrides: [
                "title": "  Spaced  ",
                "comment": "\n text \t",
                "verified_purchase": true,
                "helpful_count": 99,
                "status": "deleted",
                "review_id": "00000000-0000-0000-0000-000000000000",
                "created_at": "2000-01-01T00:00:00.000Z",
            ])
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), json: body)
            #expect(reply.code == 201)
            #expect(reply.json["title"] == "Spaced")
            #expect(reply.json["comment"] == "text")
            #expect(reply.json["verified_purchase"] == false)
            #expect(reply.json["helpful_count"] == .number("0"))
            #expect(reply.json["status"] == "active")
            #expect(reply.json["review_id"] != "00000000-0000-0000-0000-000000000000")
            #expect(reply.json["created_at"] != "2000-01-01T00:00:00.000Z")
        }
    }

    @Test func oneActiveReviewPerUserAndBook() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.alice)
            let first = try await app.createReview()
            let duplicate = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(overrides: ["rating": 1]))
            #expect(duplicate.code == 409)
            #expect(duplicate.error == "You have already reviewed this book")
            #expect(duplicate.json.objectValue?.keys == ["error"])

            // Other books and other users are independent.
            try await app.createReview(bookID: "book-2")
            try await app.createReview(as: Fixture.bob)

            // Once deleted, the user may review the book again.
            let id = try #require(first["review_id"]?.stringValue)
            #expect(try await app.send(.delete, "/api/reviews/\(id)", token: token).code == 200)
            let again = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(overrides: ["rating": 2]))
            #expect(again.code == 201)
            #expect(again.json["rating"] == .number("2"))
        }
    }

    @Test func parallelCreatesGiveExactlyOneSuccess() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.alice)
            let codes = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await app.send(
                            .post,
                            "/api/reviews",
                            token: token,
                            json: Fixture.reviewBody(bookID: "contested", overrides: ["title": .string("Attempt \(index)")])
                        ).code
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(codes.filter { $0 == 201 }.count == 1)
            #expect(codes.filter { $0 == 409 }.count == 19)
            let list = try await app.send(.get, "/api/reviews/book/contested")
            #expect(list.json["total"] == .number("1"))
        }
    }

    @Test(arguments: [
        ("0", "rating"), ("6", "rating"), ("-1", "rating"), ("4.5", "rating"), ("5.0", "rating"), ("5e0", "rating"), ("true", "rating"),
        ("\"5\"", "rating"), ("null", "rating"), ("[]", "rating"), ("{}", "rating"),
    ])
    func rejectsInvalidRatings(literal: String, field: String) async throws {
        try await Harness.run { app in
            let raw = #"{"book_id":"book-1","user_id":"user-alice","title":"t","comment":"c","rating":"# + literal + "}"
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), raw: raw)
            #expect(reply.code == 400, "rating \(literal): \(reply.text)")
            #expect(reply.errors.count == 1)
            #expect(reply.errors.first?.hasPrefix(field) == true)
        }
    }

    @Test func acceptsRatingBoundaries() async throws {
        try await Harness.run { app in
            try await app.createReview(bookID: "low", rating: 1)
            try await app.createReview(bookID: "high", rating: 5)
        }
    }

    @Test func missingRatingIsReported() async throws {
        try await Harness.run { app in
            let reply = try await app.send(
                .post,
                "/api/reviews",
                token: try await Fixture.token(Fixture.alice),
                json: Fixture.reviewBody(removing: ["rating"])
            )
            #expect(reply.code == 400)
            #expect(reply.errors == ["rating is required"])
        }
    }

    @Test func validatesTitleAndCommentLengths() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.alice)
            func create(_ bookID: String, _ overrides: JSONObject) async throws -> Reply {
                try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(bookID: bookID, overrides: overrides))
            }
            #expect(try await create("t200", ["title": .string(String(repeating: "t", count: 200))]).code == 201)
            #expect(try await create("c2000", ["comment": .string(String(repeating: "c", count: 2000))]).code == 201)
            // Lengths count characters, not bytes.
            #expect(try await create("t200u", ["title": .string(String(repeating: "é", count: 200))]).code == 201)

            let cases: [(JSONObject, String)] = [
                (["title": .string(String(repeating: "t", count: 201))], "title must be at most 200 characters"),
                (["title": "   "], "title must not be blank"),
                (["title": ""], "title must not be blank"),
                (["title": 42], "title must be a string"),
                (["title": .null], "title is required"),
                (["comment": .string(String(repeating: "c", count: 2001))], "comment must be at most 2000 characters"),
                (["comment": "\n\t "], "comment must not be blank"),
                (["comment": false], "comment must be a string"),
            ]
            for (overrides, message) in cases {
                let reply = try await create("other", overrides)
                #expect(reply.code == 400)
                #expect(reply.errors == [message])
            }
            let missing = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(removing: ["title", "comment"]))
            #expect(missing.errors == ["title is required", "comment is required"])
        }
    }

    @Test(arguments: ["bad id", "a/b", "a.b", "émile", "book$", String(repeating: "b", count: 101)])
    func rejectsInvalidBookIDs(bookID: String) async throws {
        try await Harness.run { app in
            let reply = try await app.send(
                .post,
                "/api/reviews",
                token: try await Fixture.token(Fixture.alice),
                json: Fixture.reviewBody(bookID: bookID)
            )
            #expect(reply.code == 400)
            #expect(reply.errors.count == 1)
            #expect(reply.errors.first?.hasPrefix("book_id") == true)
        }
    }

    @Test func acceptsIdentifierBoundaries() async throws {
        try await Harness.run { app in
            try await app.createReview(bookID: String(repeating: "b", count: 100))
            try await app.createReview(bookID: "A-z_0-9")
        }
    }

    @Test func rejectsInvalidUserIDs() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.admin)
            for userID in ["bad id", "x;drop", String(repeating: "u", count: 101)] {
                let reply = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(userID: userID))
                #expect(reply.code == 400)
                #expect(reply.errors.first?.hasPrefix("user_id") == true)
            }
            let missing = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody(removing: ["user_id"]))
            #expect(missing.errors == ["user_id is required"])
        }
    }

    @Test func listsEveryProblemAtOnce() async throws {
        try await Harness.run { app in
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), json: [:])
            #expect(reply.code == 400)
            #expect(
                reply.errors == ["book_id is required", "user_id is required", "rating is required", "title is required", "comment is required"]
            )
            #expect(reply.json.objectValue?.keys == ["errors"])
        }
    }

    @Test func rejectsMalformedBodies() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.alice)
            for raw in ["{", "{\"book_id\": }", "not json", "[]", "[{\"book_id\":\"b\"}]", "\"text\"", "42", "null", "{\"a\":1}}"] {
                let reply = try await app.send(.post, "/api/reviews", token: token, raw: raw)
                #expect(reply.code == 400, "body \(raw): \(reply.text)")
                #expect(reply.errors.count == 1)
                #expect(reply.json.objectValue?.keys == ["errors"])
            }
            let empty = try await app.send(.post, "/api/reviews", token: token)
            #expect(empty.code == 400)
            #expect(empty.errors == ["Request body is required"])
            let array = try await app.send(.post, "/api/reviews", token: token, raw: "[1,2]")
            #expect(array.errors == ["Request body must be a JSON object, not array"])
        }
    }

    @Test func rejectsOversizedBodies() async throws {
        try await Harness.run { app in
            let big = Fixture.reviewBody(overrides: ["comment": .string(String(repeating: "x", count: Fixture.maxBodyBytes + 1))])
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), json: big)
            #expect(reply.code == 413)
            #expect(reply.error?.contains("\(Fixture.maxBodyBytes)") == true)
        }
    }

    @Test func writesForOthersNeedTheAdminRole() async throws {
        try await Harness.run { app in
            let forBob = Fixture.reviewBody(userID: Fixture.bob.userID)
            let reply = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.alice), json: forBob)
            #expect(reply.code == 403)
            #expect(reply.error == "You can only write reviews as yourself")

            let byAdmin = try await app.send(.post, "/api/reviews", token: try await Fixture.token(Fixture.admin), json: forBob)
            #expect(byAdmin.code == 201)
            #expect(byAdmin.json["user_id"] == .string(Fixture.bob.userID))
        }
    }
}
