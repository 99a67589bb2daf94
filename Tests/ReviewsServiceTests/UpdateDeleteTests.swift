import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct UpdateDeleteTests {
    @Test func ownerUpdatesSomeFields() async throws {
        try await Harness.run { app in
            let review = try await app.createReview(rating: 3)
            let id = try #require(review["review_id"]?.stringValue)
            try await Task.sleep(for: .milliseconds(5))
            let reply = try await app.send(
                .put,
                "/api/reviews/\(id)",
                token: try await Fixture.token(Fixture.alice),
                json: ["rating": 4, "title": "  Better on a second read "]
            )
            #expect(reply.code == 200)
            #expect(reply.json["rating"] == .number("4"))
            #expect(reply.json["title"] == "Better on a second read")
            #expect(reply.json["comment"] == review["comment"])
            #expect(reply.json["created_at"] == review["created_at"])
            let created = try #require(review["created_at"]?.stringValue.flatMap(Timestamp.parse))
            let updated = try #require(reply.json["updated_at"]?.stringValue.flatMap(Timestamp.parse))
            #expect(updated > created)

            let commentOnly = try await app.send(
                .put,
                "/api/reviews/\(id)",
                token: try await Fixture.token(Fixture.alice),
                json: ["comment": "Short."]
            )
            #expect(commentOnly.json["comment"] == "Short.")
            #expect(commentOnly.json["rating"] == .number("4"))
            #expect(try await app.send(.get, "/api/reviews/\(id)").json == commentOnly.json)
        }
    }

    @Test func updatesAreRevalidated() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            let token = try await Fixture.token(Fixture.alice)
            let cases: [(String, [String])] = [
                (#"{"rating":0}"#, ["rating must be an integer between 1 and 5"]),
                (#"{"rating":6}"#, ["rating must be an integer between 1 and 5"]),
                (#"{"rating":4.5}"#, ["rating must be an integer between 1 and 5"]),
                (#"{"rating":"5"}"#, ["rating must be an integer between 1 and 5"]),
                (#"{"rating":true}"#, ["rating must be an integer between 1 and 5"]),
                (#"{"title":"  "}"#, ["title must not be blank"]),
                (#"{"title":"\#(String(repeating: "t", count: 201))"}"#, ["title must be at most 200 characters"]),
                (#"{"comment":""}"#, ["comment must not be blank"]),
                (#"{"comment":"\#(String(repeating: "c", count: 2001))"}"#, ["comment must be at most 2000 characters"]),
                (#"{"title":7,"comment":[]}"#, ["title must be a string", "comment must be a string"]),
                (#"{}"#, ["at least one of rating, title or comment is required"]),
                (#"{"rating":null}"#, ["rating must not be null"]),
                (#"{"title":"New","comment":null}"#, ["comment must not be null"]),
                (#"{"verified_purchase":true,"helpful_count":5}"#, ["at least one of rating, title or comment is required"]),
            ]
            for (raw, errors) in cases {
                let reply = try await app.send(.put, "/api/reviews/\(id)", token: token, raw: raw)
                #expect(reply.code == 400, "\(raw.prefix(40)): \(reply.text)")
                #expect(reply.errors == errors)
            }
            for raw in ["{", "[]", "\"x\""] {
                let reply = try await app.send(.put, "/api/reviews/\(id)", token: token, raw: raw)
                #expect(reply.code == 400)
                #expect(reply.errors.count == 1)
            }
            #expect(try await app.send(.put, "/api/reviews/\(id)", token: token).code == 400)
            let big = try await app.send(
                .put,
                "/api/reviews/\(id)",
                token: token,
                json: ["comment": .string(String(repeating: "x", count: Fixture.maxBodyBytes))]
            )
            #expect(big.code == 413)
            let unchanged = try await app.send(.get, "/api/reviews/\(id)")
            #expect(unchanged.json["rating"] == .number("5"))
            #expect(unchanged.json["title"] == "A great read")
        }
    }

    @Test func updateAuthorizationMatrix() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            let body: JSON = ["rating": 1]
            let other = try await app.send(.put, "/api/reviews/\(id)", token: try await Fixture.token(Fixture.bob), json: body)
            #expect(other.code == 403)
            #expect(other.error == "You can only update your own reviews")
            let admin = try await app.send(.put, "/api/reviews/\(id)", token: try await Fixture.token(Fixture.admin), json: body)
            #expect(admin.code == 403)
            let anonymous = try await app.send(.put, "/api/reviews/\(id)", json: body)
            #expect(anonymous.code == 401)
            #expect(try await app.send(.get, "/api/reviews/\(id)").json["rating"] == .number("5"))
            let owner = try await app.send(.put, "/api/reviews/\(id)", token: try await Fixture.token(Fixture.alice), json: body)
            #expect(owner.code == 200)
        }
    }

    @Test func deleteAuthorizationMatrix() async throws {
        try await Harness.run { app in
            let first = try #require(try await app.createReview(bookID: "b1")["review_id"]?.stringValue)
            let second = try #require(try await app.createReview(bookID: "b2")["review_id"]?.stringValue)

            #expect(try await app.send(.delete, "/api/reviews/\(first)").code == 401)
            let other = try await app.send(.delete, "/api/reviews/\(first)", token: try await Fixture.token(Fixture.bob))
            #expect(other.code == 403)
            #expect(other.error == "You can only delete your own reviews")
            #expect(try await app.send(.get, "/api/reviews/\(first)").code == 200)

            let owner = try await app.send(.delete, "/api/reviews/\(first)", token: try await Fixture.token(Fixture.alice))
            #expect(owner.code == 200)
            #expect(owner.json == ["message": "Review deleted successfully", "review_id": .string(first)])

            let admin = try await app.send(.delete, "/api/reviews/\(second)", token: try await Fixture.token(Fixture.admin))
            #expect(admin.code == 200)
            #expect(admin.json["review_id"] == .string(second))
        }
    }

    @Test func everyOperationOnADeletedReviewIsNotFound() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            let owner = try await Fixture.token(Fixture.alice)
            #expect(try await app.send(.delete, "/api/reviews/\(id)", token: owner).code == 200)

            let attempts: [Reply] = [
                try await app.send(.get, "/api/reviews/\(id)"),
                try await app.send(.put, "/api/reviews/\(id)", token: owner, json: ["rating": 2]),
                try await app.send(.delete, "/api/reviews/\(id)", token: owner),
                try await app.send(.delete, "/api/reviews/\(id)", token: try await Fixture.token(Fixture.admin)),
                try await app.send(.post, "/api/reviews/\(id)/helpful", token: owner),
                // Not even another user learns more than "not found".
                try await app.send(.put, "/api/reviews/\(id)", token: try await Fixture.token(Fixture.bob), json: ["rating": 2]),
            ]
            for reply in attempts {
                #expect(reply.code == 404)
                #expect(reply.error == "Review not found")
            }
        }
    }

    @Test func unknownReviewsAreNotFoundForEveryWrite() async throws {
        try await Harness.run { app in
            let token = try await Fixture.token(Fixture.alice)
            for id in [UUID().uuidString, "nope"] {
                #expect(try await app.send(.put, "/api/reviews/\(id)", token: token, json: ["rating": 2]).code == 404)
                #expect(try await app.send(.delete, "/api/reviews/\(id)", token: token).code == 404)
                #expect(try await app.send(.post, "/api/reviews/\(id)/helpful", token: token).code == 404)
            }
        }
    }

    @Test func helpfulVotesCount() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            #expect(try await app.send(.post, "/api/reviews/\(id)/helpful").code == 401)

            let first = try await app.send(.post, "/api/reviews/\(id)/helpful", token: try await Fixture.token(Fixture.bob))
            #expect(first.code == 200)
            #expect(first.json["helpful_count"] == .number("1"))
            #expect(first.json["review_id"] == .string(id))
            let second = try await app.send(.post, "/api/reviews/\(id)/helpful", token: try await Fixture.token(Fixture.admin))
            #expect(second.json["helpful_count"] == .number("2"))
            #expect(try await app.send(.get, "/api/reviews/\(id)").json["helpful_count"] == .number("2"))
        }
    }

    @Test func parallelHelpfulVotesAreNotLost() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            let token = try await Fixture.token(Fixture.bob)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<25 {
                    group.addTask {
                        let reply = try await app.send(.post, "/api/reviews/\(id)/helpful", token: token)
                        #expect(reply.code == 200)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await app.send(.get, "/api/reviews/\(id)").json["helpful_count"] == .number("25"))
        }
    }
}
