import BookstoreCore
import BookstoreMongo
import BookstoreTesting
import Foundation
import JSONKit
import ReviewsService
import Testing

/// The reviews and purchases repositories on the MongoDB-wire server, each test on a database of its own.
@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's MongoDB-wire server"))
struct MongoReviewRepositoryTests {
    func withRepositories(_ body: (MongoReviewRepository, MongoPurchaseRepository, MongoStore) async throws -> Void) async throws {
        try await withMongoDatabase("review_db_test", indexes: MongoReviewRepository.indexes + MongoPurchaseRepository.indexes) { store in
            try await body(MongoReviewRepository(store: store), MongoPurchaseRepository(store: store), store)
        }
    }

    /// The shared contract (``ReviewRepositoryContract``); the round trip is checked below with its stored form.
    @Test(arguments: ReviewRepositoryContract.checks.excluding("everyOperationRoundTrips"))
    func contract(_ check: ContractCheck<any ReviewRepository>) async throws {
        try await self.withRepositories { repository, _, _ in try await check.run(repository) }
    }

    @Test(arguments: ReviewRepositoryContract.purchaseChecks)
    func purchaseContract(_ check: ContractCheck<any PurchaseRepository>) async throws {
        try await self.withRepositories { _, purchases, _ in try await check.run(purchases) }
    }

    @Test func everyOperationRoundTrips() async throws {
        try await self.withRepositories { repository, _, store in
            try await ReviewRepositoryContract.everyOperationRoundTrips(repository) { review in
                // Stored types: an integer rating, BSON dates.
                let raw = try #require(try await store.collection("reviews").findOne(["review_id": .string(review.id)]))
                #expect(raw["rating"] == 4)
                #expect(MongoValue.date(from: raw["created_at"]) != nil)
            }
        }
    }

    @Test func anUnreachableServerIsADependencyErrorNotACrash() async throws {
        let settings = try MongoSettings(
            settings: IntegrationEnvironment.settings.with(["MONGO_URI": "mongodb://127.0.0.1:9/?directConnection=true", "MONGO_TIMEOUT_MS": "500"]),
            defaultDatabase: "review_db"
        )
        let store = try MongoStore(settings: settings, indexes: MongoReviewRepository.indexes, logger: IntegrationEnvironment.logger)
        let repository = MongoReviewRepository(store: store)
        let purchases = MongoPurchaseRepository(store: store)
        try await withRunningServices([store]) {
            let started = ContinuousClock.now
            #expect(await repository.isHealthy() == false)
            await #expect(throws: DependencyError.self) { try await repository.create(ReviewRepositoryContract.review()) }
            await #expect(throws: DependencyError.self) { _ = try await repository.list(bookID: "b", offset: 0, limit: 10) }
            await #expect(throws: DependencyError.self) { _ = try await repository.incrementHelpful(id: "x") }
            await #expect(throws: DependencyError.self) { _ = try await repository.stats(bookID: "b") }
            await #expect(throws: DependencyError.self) { _ = try await purchases.hasPurchased(userID: "u", bookID: "b") }
            #expect(started.duration(to: .now) < .seconds(6))
        }
    }
}
