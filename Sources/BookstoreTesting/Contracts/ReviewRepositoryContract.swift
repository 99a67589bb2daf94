import BookstoreCore
import Foundation
import JSONKit
import ReviewsService
import Testing

/// What every `ReviewRepository` and `PurchaseRepository` adapter must do, whatever the store: the shared fixtures and
/// test bodies of `MemoryReviewRepositoryContractTests` (ReviewsServiceTests) and `MongoReviewRepositoryTests`
/// (IntegrationTests). Each body expects an empty repository. The suites run ``checks`` and ``purchaseChecks`` as
/// parameterised tests and keep their own `@Test` functions for what is specific to their store.
public enum ReviewRepositoryContract {
    /// Every store-agnostic check of a `ReviewRepository`, by the name of its body.
    public static let checks: [ContractCheck<any ReviewRepository>] = [
        ContractCheck("everyOperationRoundTrips") { try await everyOperationRoundTrips($0) },
        ContractCheck("concurrentCreatesKeepOneActiveReview") { try await concurrentCreatesKeepOneActiveReview($0) },
        ContractCheck("theUniqueConstraintsAndTheirErrors") { try await theUniqueConstraintsAndTheirErrors($0) },
        ContractCheck("listsNewestFirstWithTiesInInsertionOrder") { try await listsNewestFirstWithTiesInInsertionOrder($0) },
        ContractCheck("statsAndConcurrentHelpfulVotes") { try await statsAndConcurrentHelpfulVotes($0) },
        ContractCheck("softDeletesAreFinal") { try await softDeletesAreFinal($0) },
        ContractCheck("deleteAllRemovesOnlyThatUsersVisibleReviews") { try await deleteAllRemovesOnlyThatUsersVisibleReviews($0) },
    ]

    /// Every store-agnostic check of a `PurchaseRepository`.
    public static let purchaseChecks: [ContractCheck<any PurchaseRepository>] = [
        ContractCheck("purchasesAreRecordedAndRevoked") { try await purchasesAreRecordedAndRevoked($0) },
        ContractCheck("refundsWithoutAKnownPaymentAndBeforeThePayment") { try await refundsWithoutAKnownPaymentAndBeforeThePayment($0) },
    ]

    public static func review(book: String = "b", user: String = "u", rating: Int = 3, at date: Date = Date()) -> Review {
        Review(bookID: book, userID: user, rating: rating, title: "t", comment: "c", createdAt: date)
    }

    /// Creates, finds, updates, votes, lists and deletes one review; `afterCreate` runs once the review is stored and
    /// before it changes, for checks of its stored form.
    public static func everyOperationRoundTrips(
        _ repository: any ReviewRepository,
        afterCreate: (Review) async throws -> Void = { _ in }
    ) async throws {
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
        try await afterCreate(review)

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

    /// `tasks` parallel creates of the same (book, user): one succeeds, every other fails as `duplicateActiveReview`.
    public static func concurrentCreatesKeepOneActiveReview(_ repository: any ReviewRepository, tasks: Int = 20) async throws {
        let errors = await withTaskGroup(of: (any Error)?.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    do {
                        try await repository.create(Self.review())
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            return await group.reduce(into: [(any Error)?]()) { $0.append($1) }
        }
        #expect(errors.filter { $0 == nil }.count == 1)
        #expect(errors.filter { $0 as? ReviewRepositoryError == .duplicateActiveReview }.count == tasks - 1, "\(errors)")
        let page = try await repository.list(bookID: "b", offset: 0, limit: 100)
        #expect(page.total == 1)
    }

    public static func theUniqueConstraintsAndTheirErrors(_ repository: any ReviewRepository) async throws {
        let first = self.review(book: "b1")
        try await repository.create(first)
        var clash = self.review(book: "b2")
        clash.id = first.id
        await #expect(throws: ReviewRepositoryError.duplicateID) { try await repository.create(clash) }
        await #expect(throws: ReviewRepositoryError.duplicateActiveReview) { try await repository.create(Self.review(book: "b1")) }
        // Another user, another book: fine. A flagged or deleted review does not count as active.
        try await repository.create(self.review(book: "b1", user: "other"))
        var flagged = self.review(book: "b3")
        flagged.status = .flagged
        try await repository.create(flagged)
        try await repository.create(self.review(book: "b3"))
        // After a soft delete the user may review the book again.
        _ = try await repository.delete(id: first.id, at: Date())
        try await repository.create(self.review(book: "b1"))
    }

    public static func listsNewestFirstWithTiesInInsertionOrder(_ repository: any ReviewRepository) async throws {
        let now = Date()
        let old = self.review(user: "u1", at: now.addingTimeInterval(-60))
        let tiedFirst = self.review(user: "u2", at: now)
        let tiedSecond = self.review(user: "u3", at: now)
        // Inserted out of time order: the list still sorts by creation time.
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
            spread.append(self.review(book: "many", user: "user\(index)", at: base.addingTimeInterval(Double(index) * 86_400 * 37)))
        }
        for review in spread.shuffled() { try await repository.create(review) }
        let all = try await repository.list(bookID: "many", offset: 0, limit: 100)
        #expect(all.reviews.map(\.id) == spread.reversed().map(\.id))
        let second = try await repository.list(bookID: "many", offset: 10, limit: 10)
        #expect(second.reviews.map(\.id) == Array(spread.reversed().map(\.id)[10..<20]))
        #expect(try await repository.list(userID: "user7", offset: 0, limit: 5).reviews.map(\.bookID) == ["many"])
    }

    public static func statsAndConcurrentHelpfulVotes(_ repository: any ReviewRepository) async throws {
        for (index, rating) in [5, 4, 4, 1, 5, 5].enumerated() {
            try await repository.create(self.review(book: "s", user: "u\(index)", rating: rating))
        }
        let deletedOne = self.review(book: "s", user: "gone", rating: 1)
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

    public static func softDeletesAreFinal(_ repository: any ReviewRepository) async throws {
        let review = self.review()
        try await repository.create(review)
        let deleted = try #require(try await repository.delete(id: review.id, at: Date()))
        #expect(deleted.status == .deleted)
        #expect(try await repository.find(id: review.id)?.status == .deleted)
        #expect(try await repository.delete(id: review.id, at: Date()) == nil)
        #expect(try await repository.update(id: review.id, changes: ReviewChanges(rating: 1), at: Date()) == nil)
        #expect(try await repository.incrementHelpful(id: review.id) == nil)
        #expect(try await repository.stats(bookID: "b").totalReviews == 0)
    }

    public static func deleteAllRemovesOnlyThatUsersVisibleReviews(_ repository: any ReviewRepository) async throws {
        let a1 = self.review(book: "b1", user: "a")
        let a2 = self.review(book: "b2", user: "a")
        var a3 = self.review(book: "b3", user: "a")
        a3.status = .flagged
        let other = self.review(book: "b1", user: "z")
        for review in [a1, a2, a3, other] { try await repository.create(review) }
        _ = try await repository.delete(id: a2.id, at: Date())
        let removed = try await repository.deleteAll(userID: "a", at: Date())
        #expect(removed.map(\.id) == [a1.id, a3.id], "visible ones, in insertion order")
        #expect(removed.allSatisfy { $0.status == .deleted })
        #expect(try await repository.deleteAll(userID: "a", at: Date()).isEmpty)
        #expect(try await repository.find(id: other.id)?.status == .active)
    }

    public static func purchasesAreRecordedAndRevoked(_ purchases: any PurchaseRepository) async throws {
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

    public static func refundsWithoutAKnownPaymentAndBeforeThePayment(_ purchases: any PurchaseRepository) async throws {
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
