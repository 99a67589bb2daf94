import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct ReadReviewTests {
    @Test func unknownOrInvalidReviewIDsAreNotFound() async throws {
        try await Harness.run { app in
            for id in [UUID().uuidString.lowercased(), UUID().uuidString, "not-a-uuid", "123", "1234567890123456789012345678901234567"] {
                let reply = try await app.send(.get, "/api/reviews/\(id)")
                #expect(reply.code == 404, "\(id)")
                #expect(reply.error == "Review not found")
            }
            // The literal segments of other routes are not review ids either.
            for path in ["/api/reviews/book", "/api/reviews/user"] {
                let reply = try await app.send(.get, path)
                #expect(reply.code == 404)
                #expect(reply.error != nil)
            }
        }
    }

    @Test func reviewIDsAreCaseInsensitive() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            let reply = try await app.send(.get, "/api/reviews/\(id.uppercased())")
            #expect(reply.code == 200)
            #expect(reply.json["review_id"] == .string(id))
        }
    }

    @Test func listsABooksReviewsNewestFirstWithPages() async throws {
        try await Harness.run { app in
            let users = (1...5).map { Identity(userID: "reader-\($0)", username: "reader\($0)", email: "r\($0)@example.com", roles: []) }
            var ids: [String] = []
            for user in users {
                ids.append(try #require(try await app.createReview(as: user, bookID: "paged")["review_id"]?.stringValue))
                try await Task.sleep(for: .milliseconds(2))
            }
            try await app.createReview(as: users[0], bookID: "elsewhere")

            let all = try await app.send(.get, "/api/reviews/book/paged")
            #expect(all.code == 200)
            #expect(all.json.objectValue?.keys == ["book_id", "reviews", "page", "limit", "count", "total"])
            #expect(all.json["book_id"] == "paged")
            #expect(all.json["page"] == .number("1"))
            #expect(all.json["limit"] == .number("20"))
            #expect(all.json["count"] == .number("5"))
            #expect(all.json["total"] == .number("5"))
            #expect(all.json["reviews"]?.arrayValue?.compactMap { $0["review_id"]?.stringValue } == Array(ids.reversed()))

            let second = try await app.send(.get, "/api/reviews/book/paged?page=2&limit=2")
            #expect(second.json["page"] == .number("2"))
            #expect(second.json["limit"] == .number("2"))
            #expect(second.json["count"] == .number("2"))
            #expect(second.json["total"] == .number("5"))
            #expect(second.json["reviews"]?.arrayValue?.compactMap { $0["review_id"]?.stringValue } == [ids[2], ids[1]])

            let last = try await app.send(.get, "/api/reviews/book/paged?page=3&limit=2")
            #expect(last.json["count"] == .number("1"))
            let beyond = try await app.send(.get, "/api/reviews/book/paged?page=9&limit=2")
            #expect(beyond.code == 200)
            #expect(beyond.json["reviews"] == [])
            #expect(beyond.json["count"] == .number("0"))
            #expect(beyond.json["total"] == .number("5"))

            let unknown = try await app.send(.get, "/api/reviews/book/no-such-book")
            #expect(unknown.code == 200)
            #expect(unknown.json["total"] == .number("0"))
        }
    }

    @Test func listsAUsersReviews() async throws {
        try await Harness.run { app in
            let first = try #require(try await app.createReview(bookID: "b1")["review_id"]?.stringValue)
            try await Task.sleep(for: .milliseconds(2))
            let second = try #require(try await app.createReview(bookID: "b2")["review_id"]?.stringValue)
            try await app.createReview(as: Fixture.bob, bookID: "b1")

            let reply = try await app.send(.get, "/api/reviews/user/\(Fixture.alice.userID)?limit=100")
            #expect(reply.code == 200)
            #expect(reply.json.objectValue?.keys == ["user_id", "reviews", "page", "limit", "count", "total"])
            #expect(reply.json["user_id"] == .string(Fixture.alice.userID))
            #expect(reply.json["limit"] == .number("100"))
            #expect(reply.json["total"] == .number("2"))
            #expect(reply.json["reviews"]?.arrayValue?.compactMap { $0["review_id"]?.stringValue } == [second, first])
        }
    }

    @Test func deletedReviewsLeaveListsAndStatistics() async throws {
        try await Harness.run { app in
            let kept = try #require(try await app.createReview(as: Fixture.bob, rating: 2)["review_id"]?.stringValue)
            let gone = try #require(try await app.createReview(rating: 5)["review_id"]?.stringValue)
            #expect(try await app.send(.delete, "/api/reviews/\(gone)", token: try await Fixture.token(Fixture.alice)).code == 200)

            let book = try await app.send(.get, "/api/reviews/book/book-1")
            #expect(book.json["total"] == .number("1"))
            #expect(book.json["reviews"]?.arrayValue?.compactMap { $0["review_id"]?.stringValue } == [kept])
            let user = try await app.send(.get, "/api/reviews/user/\(Fixture.alice.userID)")
            #expect(user.json["total"] == .number("0"))
            let stats = try await app.send(.get, "/api/reviews/book/book-1/stats")
            #expect(stats.json["total_reviews"] == .number("1"))
            #expect(stats.json["average_rating"] == .number("2.00"))
        }
    }

    @Test(arguments: [
        ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=1.5", "page"), ("page=", "page"), ("limit=0", "limit"),
        ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=-5", "limit"), ("limit=2.0", "limit"),
    ])
    func rejectsInvalidPagination(query: String, field: String) async throws {
        try await Harness.run { app in
            for path in ["/api/reviews/book/book-1", "/api/reviews/user/user-alice"] {
                let reply = try await app.send(.get, "\(path)?\(query)")
                #expect(reply.code == 400, "\(path)?\(query): \(reply.text)")
                #expect(reply.errors.count == 1)
                #expect(reply.errors.first?.hasPrefix(field) == true)
            }
        }
    }

    @Test func acceptsPaginationBoundaries() async throws {
        try await Harness.run { app in
            for query in ["page=1&limit=1", "page=1&limit=100", "page=1000000&limit=100"] {
                let reply = try await app.send(.get, "/api/reviews/book/book-1?\(query)")
                #expect(reply.code == 200, "\(query)")
            }
        }
    }

    @Test func rejectsInvalidPathIdentifiers() async throws {
        try await Harness.run { app in
            let long = String(repeating: "x", count: 101)
            for path in ["/api/reviews/book/a%20b", "/api/reviews/book/\(long)", "/api/reviews/user/a.b", "/api/reviews/book/a$b/stats"] {
                let reply = try await app.send(.get, path)
                #expect(reply.code == 400, "\(path)")
                #expect(reply.errors.count == 1)
            }
        }
    }

    @Test func statisticsOfABookWithoutReviews() async throws {
        try await Harness.run { app in
            let reply = try await app.send(.get, "/api/reviews/book/empty-book/stats")
            #expect(reply.code == 200)
            #expect(reply.json.objectValue?.keys == ["book_id", "average_rating", "total_reviews", "rating_distribution"])
            #expect(reply.text.contains(#""average_rating":0.00"#))
            #expect(reply.json["total_reviews"] == .number("0"))
            #expect(reply.json["rating_distribution"] == ["1": 0, "2": 0, "3": 0, "4": 0, "5": 0])
        }
    }

    @Test(arguments: [
        ([5, 4], "4.50"), ([5, 4, 4], "4.33"), ([5, 5, 4], "4.67"), ([1, 2], "1.50"), ([3], "3.00"), ([1, 1, 1, 1, 1, 1, 1, 2], "1.13"),
        ([5, 5, 5, 5, 5, 5, 5, 4], "4.88"), ([1, 5], "3.00"),
    ])
    func statisticsAverageWithTwoDecimals(ratings: [Int], average: String) async throws {
        try await Harness.run { app in
            for (index, rating) in ratings.enumerated() {
                let user = Identity(userID: "rater-\(index)", username: "rater\(index)", email: "r@example.com", roles: [])
                try await app.createReview(as: user, bookID: "rated", rating: rating)
            }
            let reply = try await app.send(.get, "/api/reviews/book/rated/stats")
            #expect(reply.code == 200)
            #expect(reply.text.contains(#""average_rating":\#(average)"#), "\(reply.text)")
            #expect(reply.json["total_reviews"] == .int(ratings.count))
            let distribution = try #require(reply.json["rating_distribution"]?.objectValue)
            #expect(distribution.keys == ["1", "2", "3", "4", "5"])
            for rating in 1...5 {
                #expect(distribution[String(rating)] == .int(ratings.filter { $0 == rating }.count))
            }
        }
    }

    @Test func averageRoundsHalfUp() {
        // 9 / 8 = 1.125 → 1.13; 39 / 8 = 4.875 → 4.88; 2 / 3 = 0.666… (not a rating, but the arithmetic) → 0.67.
        #expect(ReviewStats(ratings: [1, 1, 1, 1, 1, 1, 1, 2]).averageRatingLiteral == "1.13")
        #expect(ReviewStats(ratings: [5, 5, 5, 5, 5, 5, 5, 4]).averageRatingLiteral == "4.88")
        #expect(ReviewStats(ratings: [1, 1, 2]).averageRatingLiteral == "1.33")
        #expect(ReviewStats(ratings: [1, 2, 2]).averageRatingLiteral == "1.67")
        #expect(ReviewStats(ratings: []).averageRatingLiteral == "0.00")
        #expect(ReviewStats(ratings: Array(repeating: 5, count: 1000)).averageRatingLiteral == "5.00")
        #expect(ReviewStats(ratings: [1, 2, 3, 4, 5, 1, 2, 3, 4]).averageRatingLiteral == "2.78")
    }
}
