import Foundation
import HTTPTypes
import Testing

@testable import ReviewsService

@Suite struct MemoryReviewRepositoryTests {
    static func review(book: String = "b", user: String = "u", rating: Int = 3, at date: Date = Date()) -> Review {
        Review(bookID: book, userID: user, rating: rating, title: "t", comment: "c", createdAt: date)
    }

    @Test func concurrentCreatesKeepOneActiveReview() async throws {
        let repository = MemoryReviewRepository()
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    do {
                        try await repository.create(Self.review())
                        return true
                    } catch {
                        #expect(error as? ReviewRepositoryError == .duplicateActiveReview)
                        return false
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(successes == 1)
    }

    @Test func reviewIDsAreUnique() async throws {
        let repository = MemoryReviewRepository()
        let first = Self.review(book: "b1")
        try await repository.create(first)
        var clash = Self.review(book: "b2")
        clash.id = first.id
        await #expect(throws: ReviewRepositoryError.duplicateID) { try await repository.create(clash) }
    }

    @Test func listsNewestFirstWithTiesInInsertionOrder() async throws {
        let repository = MemoryReviewRepository()
        let now = Date()
        let old = Self.review(user: "u1", at: now.addingTimeInterval(-60))
        let tiedFirst = Self.review(user: "u2", at: now)
        let tiedSecond = Self.review(user: "u3", at: now)
        // Inserted out of time order: the list still sorts by creation time.
        for review in [tiedFirst, old, tiedSecond] { try await repository.create(review) }
        let page = try await repository.list(bookID: "b", offset: 0, limit: 10)
        #expect(page.reviews.map(\.id) == [tiedSecond.id, tiedFirst.id, old.id])
        #expect(page.total == 3)
        #expect(try await repository.list(bookID: "b", offset: 1, limit: 1).reviews.map(\.id) == [tiedFirst.id])
        #expect(try await repository.list(bookID: "b", offset: 3, limit: 1).reviews.isEmpty)
    }

    @Test func softDeletesAreFinal() async throws {
        let repository = MemoryReviewRepository()
        let review = Self.review()
        try await repository.create(review)
        let deleted = try #require(try await repository.delete(id: review.id, at: Date()))
        #expect(deleted.status == .deleted)
        #expect(try await repository.find(id: review.id)?.status == .deleted)
        #expect(try await repository.delete(id: review.id, at: Date()) == nil)
        #expect(try await repository.update(id: review.id, changes: ReviewChanges(rating: 1), at: Date()) == nil)
        #expect(try await repository.incrementHelpful(id: review.id) == nil)
        #expect(try await repository.stats(bookID: "b").totalReviews == 0)
    }

    @Test func deleteAllRemovesOnlyThatUsersVisibleReviews() async throws {
        let repository = MemoryReviewRepository()
        let a1 = Self.review(book: "b1", user: "a")
        let a2 = Self.review(book: "b2", user: "a")
        let other = Self.review(book: "b1", user: "z")
        for review in [a1, a2, other] { try await repository.create(review) }
        _ = try await repository.delete(id: a2.id, at: Date())
        let removed = try await repository.deleteAll(userID: "a", at: Date())
        #expect(removed.map(\.id) == [a1.id])
        #expect(try await repository.deleteAll(userID: "a", at: Date()).isEmpty)
        #expect(try await repository.find(id: other.id)?.status == .active)
    }
}

@Suite struct MemoryPurchaseRepositoryTests {
    @Test func recordsAndRevokesPurchases() async throws {
        let purchases = MemoryPurchaseRepository()
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
    }

    @Test func refundWithoutAKnownPaymentRevokesByBook() async throws {
        let purchases = MemoryPurchaseRepository()
        try await purchases.recordPurchase(paymentID: "p1", userID: "u", bookID: "b")
        try await purchases.revokePurchase(paymentID: nil, userID: "u", bookID: "b")
        #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)
    }

    @Test func refundSeenBeforeItsPaymentWins() async throws {
        let purchases = MemoryPurchaseRepository()
        try await purchases.revokePurchase(paymentID: "p9", userID: "u", bookID: nil)
        try await purchases.recordPurchase(paymentID: "p9", userID: "u", bookID: "b")
        #expect(try await purchases.hasPurchased(userID: "u", bookID: "b") == false)
    }
}
