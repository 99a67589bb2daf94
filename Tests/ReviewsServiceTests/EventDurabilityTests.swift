import BookstoreCore
import BookstoreTesting
import FaultInjection
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import Synchronization
import Testing

@testable import ReviewsService

/// SPEC §6: a review change whose event cannot be made durable fails with 503 and is undone (before, the client got
/// 201/200 and `review.created`/`updated`/`deleted` was lost).
@Suite struct EventDurabilityTests {
    @Test func reviewChangesWhoseEventCannotBeStoredAre503AndUndone() async throws {
        let bus = RefusingEventBus()
        let built = try await ReviewsApp.build(settings: Fixture.settings([:]), bus: bus)
        try await built.application.test(.router) { client in
            let app = Harness(client: client, bus: bus.inner, built: built)
            let token = try await Fixture.token(Fixture.alice)
            bus.refusing.store(true, ordering: .relaxed)
            let refused = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody())
            #expect(refused.code == 503)
            #expect(refused.headers[.retryAfter] == "5")
            #expect(try await app.send(.get, "/api/reviews/book/book-1").json["total"] == 0, "the review was removed")

            bus.refusing.store(false, ordering: .relaxed)
            let created = try await app.send(.post, "/api/reviews", token: token, json: Fixture.reviewBody())
            #expect(created.code == 201, "the refused creation left no active review behind")
            let id = try #require(created.json["review_id"]?.stringValue)
            let original = try await app.send(.get, "/api/reviews/\(id)").json

            bus.refusing.store(true, ordering: .relaxed)
            #expect(try await app.send(.put, "/api/reviews/\(id)", token: token, json: ["rating": 1, "title": "Changed"]).code == 503)
            #expect(try await app.send(.get, "/api/reviews/\(id)").json == original, "the update was undone")
            #expect(try await app.send(.delete, "/api/reviews/\(id)", token: token).code == 503)
            #expect(try await app.send(.get, "/api/reviews/\(id)").json == original, "the deletion was undone")
            #expect(try await app.send(.get, "/api/reviews/book/book-1").json["total"] == 1)
        }
    }
}
