import BookstoreCore
import BookstoreMongo
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

    static func review(book: String = "b", user: String = "u", rating: Int = 3, at date: Date = Date()) -> Review {
        Review(bookID: book, userID: user, rating: rating, title: "t", comment: "c", createdAt: date)
    }

    @Test func everyOperationRoundTrips() async throws {
        try await self.withRepositories { repository, _, store in
            let created = Date(timeIntervalSince1970: 1_700_000_000.123_4)
            let review = Review(
                bookID: "book-1",
                userID: "user-1",
                rating: 4,
                title: "Título 📚",
                comment: "Muy bueno\nde verdad",
                verifiedPurchase: true,
                createdAt: created
            )
            #expect(await repository.isHealthy())
            try await repository.create(review)
            let found = try #require(try await repository.find(id: review.id))
            #expect(found.title == review.title && found.comment == review.comment && found.rating == 4)
            #expect(found.verifiedPurchase && found.helpfulCount == 0 && found.status == .active)
            #expect(Timestamp.iso8601(found.createdAt) == Timestamp.iso8601(created), "the stored millisecond")
            #expect(found.json["created_at"] == review.json["created_at"], "the API shows the same timestamp before and after storage")
            #expect(try await repository.find(id: "unknown") == nil)

            // Stored types: an integer rating, BSON dates.
            let raw = try #require(try await store.collection("reviews").findOne(["review_id": .string(review.id)]))
            #expect(raw["rating"] == 4)
            #expect(MongoValue.date(from: raw["created_at"]) != nil)

            let later = created.addingTimeInterval(60)
            let updated = try #require(try await repository.update(id: review.id, changes: ReviewChanges(rating: 5, title: "New"), at: later))
            #expect(updated.rating == 5 && updated.title == "New" && updated.comment == review.comment)
            #expect(Timestamp.iso8601(updated.updatedAt) == Timestamp.iso8601(later))
            #expect(try await repository.update(id: "unknown", changes: ReviewChanges(rating: 1), at: later) == nil)

            #expect(try await repository.incrementHelpful(id: review.id)?.helpfulCount == 1)
            #expect(try await repository.incrementHelpful(id: review.id)?.helpfulCount == 2)
            #expect(try await repository.incrementHelpful(id: "unknown") == nil)

            let page = try await repository.list(bookID: "book-1", offset: 0, limit: 10)
            #expect(page.total == 1 && page.reviews.map(\.id) == [review.id])
            #expect(try await repository.list(userID: "user-1", offset: 0, limit: 10).reviews.map(\.id) == [review.id])
            #expect(try await repository.list(bookID: "book-1", offset: 0, limit: 0) == ReviewPage(reviews: [], total: 1))

            let deleted = try #require(try await repository.delete(id: review.id, at: later))
            #expect(deleted.status == .deleted && deleted.rating == 5)
            #expect(try await repository.find(id: review.id)?.status == .deleted)
            #expect(try await repository.list(bookID: "book-1", offset: 0, limit: 10) == ReviewPage(reviews: [], total: 0))
        }
    }

    @Test func concurrentCreatesKeepOneActiveReview() async throws {
        try await self.withRepositories { repository, _, _ in
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        do {
                            try await repository.create(Self.review())
                            return "created"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "created" }.count == 1)
            #expect(outcomes.filter { $0 == "\(ReviewRepositoryError.duplicateActiveReview)" }.count == 19, "\(outcomes)")
            let page = try await repository.list(bookID: "b", offset: 0, limit: 100)
            #expect(page.total == 1)
        }
    }

    @Test func theUniqueConstraintsAndTheirErrors() async throws {
        try await self.withRepositories { repository, _, _ in
            let first = Self.review(book: "b1")
            try await repository.create(first)
            var clash = Self.review(book: "b2")
            clash.id = first.id
            await #expect(throws: ReviewRepositoryError.duplicateID) { try await repository.create(clash) }
            await #expect(throws: ReviewRepositoryError.duplicateActiveReview) { try await repository.create(Self.review(book: "b1")) }
            // Another user, another book: fine. A flagged or deleted review does not count as active.
            try await repository.create(Self.review(book: "b1", user: "other"))
            var flagged = Self.review(book: "b3")
            flagged.status = .flagged
            try await repository.create(flagged)
            try await repository.create(Self.review(book: "b3"))
            // After a soft delete the user may review the book again.
            _ = try await repository.delete(id: first.id, at: Date())
            try await repository.create(Self.review(book: "b1"))
        }
    }

    @Test func listsNewestFirstWithTiesInInsertionOrder() async throws {
        try await self.withRepositories { repository, _, _ in
            let now = Date()
            let old = Self.review(user: "u1", at: now.addingTimeInterval(-60))
            let tiedFirst = Self.review(user: "u2", at: now)
            let tiedSecond = Self.review(user: "u3", at: now)
            for review in [tiedFirst, old, tiedSecond] { try await repository.create(review) }
            let page = try await repository.list(bookID: "b", offset: 0, limit: 10)
            #expect(page.reviews.map(\.id) == [tiedSecond.id, tiedFirst.id, old.id])
            #expect(page.total == 3)
            #expect(try await repository.list(bookID: "b", offset: 1, limit: 1).reviews.map(\.id) == [tiedFirst.id])
            #expect(try await repository.list(bookID: "b", offset: 3, limit: 1) == ReviewPage(reviews: [], total: 3))

            // Many reviews over a long time span, inserted in random order: still by date.
            let base = Date(timeIntervalSince1970: 1_600_000_000)
            var spread: [Review] = []
            for index in 0..<30 {
                spread.append(Self.review(book: "many", user: "user\(index)", at: base.addingTimeInterval(Double(index) * 86_400 * 37)))
            }
            for review in spread.shuffled() { try await repository.create(review) }
            let all = try await repository.list(bookID: "many", offset: 0, limit: 100)
            #expect(all.reviews.map(\.id) == spread.reversed().map(\.id))
            let second = try await repository.list(bookID: "many", offset: 10, limit: 10)
            #expect(second.reviews.map(\.id) == Array(spread.reversed().map(\.id)[10..<20]))
            #expect(try await repository.list(userID: "user7", offset: 0, limit: 5).reviews.map(\.bookID) == ["many"])
        }
    }

    @Test func statsAndConcurrentHelpfulVotes() async throws {
        try await self.withRepositories { repository, _, _ in
            for (index, rating) in [5, 4, 4, 1, 5, 5].enumerated() {
                try await repository.create(Self.review(book: "s", user: "u\(index)", rating: rating))
            }
            let deletedOne = Self.review(book: "s", user: "gone", rating: 1)
            try await repository.create(deletedOne)
            _ = try await repository.delete(id: deletedOne.id, at: Date())
            let stats = try await repository.stats(bookID: "s")
            #expect(stats.distribution == [1, 0, 0, 2, 3])
            #expect(stats.averageRatingLiteral == "4.00")
            #expect(try await repository.stats(bookID: "none") == ReviewStats())

            let target = try #require(try await repository.list(bookID: "s", offset: 0, limit: 1).reviews.first)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 { group.addTask { _ = try await repository.incrementHelpful(id: target.id) } }
                try await group.waitForAll()
            }
            #expect(try await repository.find(id: target.id)?.helpfulCount == 20, "no vote lost")
        }
    }

    @Test func softDeletesAreFinal() async throws {
        try await self.withRepositories { repository, _, _ in
            let review = Self.review()
            try await repository.create(review)
            #expect(try await repository.delete(id: review.id, at: Date())?.status == .deleted)
            #expect(try await repository.delete(id: review.id, at: Date()) == nil)
            #expect(try await repository.update(id: review.id, changes: ReviewChanges(rating: 1), at: Date()) == nil)
            #expect(try await repository.incrementHelpful(id: review.id) == nil)
            #expect(try await repository.stats(bookID: "b").totalReviews == 0)
        }
    }

    @Test func deleteAllRemovesOnlyThatUsersVisibleReviews() async throws {
        try await self.withRepositories { repository, _, _ in
            let a1 = Self.review(book: "b1", user: "a")
            let a2 = Self.review(book: "b2", user: "a")
            var a3 = Self.review(book: "b3", user: "a")
            a3.status = .flagged
            let other = Self.review(book: "b1", user: "z")
            for review in [a1, a2, a3, other] { try await repository.create(review) }
            _ = try await repository.delete(id: a2.id, at: Date())
            let removed = try await repository.deleteAll(userID: "a", at: Date())
            #expect(removed.map(\.id) == [a1.id, a3.id], "visible ones, in insertion order")
            #expect(removed.allSatisfy { $0.status == .deleted })
            #expect(try await repository.deleteAll(userID: "a", at: Date()).isEmpty)
            #expect(try await repository.find(id: other.id)?.status == .active)
        }
    }

    @Test func purchasesAreRecordedAndRevoked() async throws {
        try await self.withRepositories { _, purchases, _ in
            #expect(await purchases.isHealthy())
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)
            try await purchases.recordPurchase(paymentID: "p1", userID: "u", bookID: "b")
            try await purchases.recordPurchase(paymentID: "p1", userID: "u", bookID: "b")
            try await purchases.recordPurchase(paymentID: "p2", userID: "u", bookID: "b")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b"))
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "other") == false)
            #expect(try await purchases.hasPurchased(userID: "other", bookID: "b") == false)
            // Two purchases, one refunded: still a buyer.
            try await purchases.revokePurchase(paymentID: "p1", userID: "u", bookID: "b")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b"))
            try await purchases.revokePurchase(paymentID: "p2", userID: "u", bookID: nil)
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)
            // A redelivered payment.completed of a refunded payment changes nothing.
            try await purchases.recordPurchase(paymentID: "p1", userID: "u", bookID: "b")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)
        }
    }

    @Test func refundsWithoutAKnownPaymentAndBeforeThePayment() async throws {
        try await self.withRepositories { _, purchases, _ in
            try await purchases.recordPurchase(paymentID: "p1", userID: "u", bookID: "b")
            try await purchases.revokePurchase(paymentID: nil, userID: "u", bookID: "b")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)

            // An unknown payment id with a book: the book's purchases go too.
            try await purchases.recordPurchase(paymentID: "p2", userID: "u", bookID: "c")
            try await purchases.revokePurchase(paymentID: "unknown", userID: "u", bookID: "c")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "c") == false)

            // The refund arrives first: the payment is never recorded.
            try await purchases.revokePurchase(paymentID: "p9", userID: "u", bookID: nil)
            try await purchases.recordPurchase(paymentID: "p9", userID: "u", bookID: "d")
            #expect(try await purchases.hasPurchased(userID: "u", bookID: "d") == false)

            // Concurrent deliveries of one payment: recorded once, no error.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 { group.addTask { try await purchases.recordPurchase(paymentID: "p10", userID: "v", bookID: "e") } }
                try await group.waitForAll()
            }
            #expect(try await purchases.hasPurchased(userID: "v", bookID: "e"))
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
            await #expect(throws: DependencyError.self) { try await repository.create(Self.review()) }
            await #expect(throws: DependencyError.self) { _ = try await repository.list(bookID: "b", offset: 0, limit: 10) }
            await #expect(throws: DependencyError.self) { _ = try await repository.incrementHelpful(id: "x") }
            await #expect(throws: DependencyError.self) { _ = try await repository.stats(bookID: "b") }
            await #expect(throws: DependencyError.self) { _ = try await purchases.hasPurchased(userID: "u", bookID: "b") }
            #expect(started.duration(to: .now) < .seconds(6))
        }
    }
}
