import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import JSONKit
import Testing

@testable import ReviewsService

@Suite struct AuthenticationTests {
    /// Every write, with a valid body, as (method, path).
    static func writes(_ app: Harness) async throws -> [(HTTPRequest.Method, String, JSON?)] {
        let id = try #require(try await app.createReview(as: Fixture.bob)["review_id"]?.stringValue)
        return [
            (.post, "/api/reviews", Fixture.reviewBody(bookID: "book-auth")),
            (.put, "/api/reviews/\(id)", ["rating": 1]),
            (.delete, "/api/reviews/\(id)", nil),
            (.post, "/api/reviews/\(id)/helpful", nil),
        ]
    }

    @Test func writesRejectBadTokens() async throws {
        try await Harness.run { app in
            let expired = try await Fixture.token(Fixture.alice, now: Date().addingTimeInterval(-3 * 24 * 3600))
            let forged = try await Fixture.token(Fixture.alice, secret: "another-secret-that-is-long-enough-for-hmac!")
            let wrongAlgorithm = try await Fixture.token(Fixture.alice, algorithm: .hs256)
            let valid = try await Fixture.token(Fixture.alice)
            let tampered = String(valid.dropLast(4)) + (valid.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            let headers: [(String, String?)] = [
                ("missing", nil),
                ("empty bearer", "Bearer "),
                ("basic scheme", "Basic dXNlcjpwYXNz"),
                ("garbage", "Bearer not.a.token"),
                ("expired", "Bearer \(expired)"),
                ("forged", "Bearer \(forged)"),
                ("alg none", "Bearer \(Fixture.unsignedToken(Fixture.alice))"),
                ("alg none admin", "Bearer \(Fixture.unsignedToken(Fixture.admin))"),
                ("HS256 confusion", "Bearer \(wrongAlgorithm)"),
                ("tampered signature", "Bearer \(tampered)"),
            ]
            for (method, path, body) in try await Self.writes(app) {
                for (name, value) in headers {
                    var fields = HTTPFields()
                    if let value { fields[.authorization] = value }
                    let reply = try await app.send(method, path, json: body, headers: fields)
                    #expect(reply.code == 401, "\(name) on \(method) \(path): \(reply.text)")
                    #expect(reply.error != nil)
                    #expect(reply.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            let expiredReply = try await app.send(.post, "/api/reviews", token: expired, json: Fixture.reviewBody())
            #expect(expiredReply.error == "Token expired")
        }
    }

    @Test func tokensOfAnotherUserCannotActForThem() async throws {
        try await Harness.run { app in
            let alice = try await Fixture.token(Fixture.alice)
            let asBob = try await app.send(.post, "/api/reviews", token: alice, json: Fixture.reviewBody(userID: Fixture.bob.userID))
            #expect(asBob.code == 403)
            let bobsReview = try #require(try await app.createReview(as: Fixture.bob)["review_id"]?.stringValue)
            #expect(try await app.send(.put, "/api/reviews/\(bobsReview)", token: alice, json: ["rating": 1]).code == 403)
            #expect(try await app.send(.delete, "/api/reviews/\(bobsReview)", token: alice).code == 403)
        }
    }

    @Test func readsArePublic() async throws {
        try await Harness.run { app in
            let id = try #require(try await app.createReview()["review_id"]?.stringValue)
            for path in ["/api/reviews/\(id)", "/api/reviews/book/book-1", "/api/reviews/user/user-alice", "/api/reviews/book/book-1/stats"] {
                #expect(try await app.send(.get, path).code == 200, "\(path)")
                // A bad token on a public read is ignored rather than rejected.
                #expect(try await app.send(.get, path, token: "garbage").code == 200, "\(path)")
            }
        }
    }

    @Test func authenticationComesBeforeBodyValidation() async throws {
        try await Harness.run { app in
            let malformed = try await app.send(.post, "/api/reviews", raw: "{")
            let invalid = try await app.send(.post, "/api/reviews", json: [:])
            #expect(malformed.code == 401)
            #expect(invalid.code == 401)
        }
    }
}
