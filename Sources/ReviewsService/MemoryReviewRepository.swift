import Foundation
import Synchronization

/// The in-memory review store of the embedded mode. One lock guards the reviews and their indexes, so every
/// operation is atomic.
public final class MemoryReviewRepository: ReviewRepository {
    private struct ActiveKey: Hashable {
        let bookID: String
        let userID: String
    }

    private struct Storage {
        var reviews: [String: Review] = [:]
        /// Review ids per book and per user, in insertion order.
        var byBook: [String: [String]] = [:]
        var byUser: [String: [String]] = [:]
        /// The partial unique index: the active review of each (book, user).
        var active: [ActiveKey: String] = [:]

        mutating func softDelete(id: String, at date: Date) -> Review? {
            guard var review = self.reviews[id], review.isVisible else { return nil }
            let key = ActiveKey(bookID: review.bookID, userID: review.userID)
            if self.active[key] == id { self.active[key] = nil }
            review.status = .deleted
            review.updatedAt = date
            self.reviews[id] = review
            return review
        }

        /// The active reviews among `ids`, newest first (creation time, then insertion order).
        func activeReviews(_ ids: [String]) -> [Review] {
            let matches = ids.enumerated().compactMap { entry -> (Int, Review)? in
                guard let review = self.reviews[entry.element], review.status == .active else { return nil }
                return (entry.offset, review)
            }
            return
                matches
                .sorted { lhs, rhs in lhs.1.createdAt != rhs.1.createdAt ? lhs.1.createdAt > rhs.1.createdAt : lhs.0 > rhs.0 }
                .map(\.1)
        }
    }

    private let storage = Mutex(Storage())

    public init() {}

    public func create(_ review: Review) async throws {
        try self.storage.withLock { storage in
            guard storage.reviews[review.id] == nil else { throw ReviewRepositoryError.duplicateID }
            let key = ActiveKey(bookID: review.bookID, userID: review.userID)
            if review.status == .active {
                guard storage.active[key] == nil else { throw ReviewRepositoryError.duplicateActiveReview }
                storage.active[key] = review.id
            }
            storage.reviews[review.id] = review
            storage.byBook[review.bookID, default: []].append(review.id)
            storage.byUser[review.userID, default: []].append(review.id)
        }
    }

    public func find(id: String) async throws -> Review? {
        self.storage.withLock { $0.reviews[id] }
    }

    public func list(bookID: String, offset: Int, limit: Int) async throws -> ReviewPage {
        self.storage.withLock { storage in Self.page(storage.activeReviews(storage.byBook[bookID] ?? []), offset: offset, limit: limit) }
    }

    public func list(userID: String, offset: Int, limit: Int) async throws -> ReviewPage {
        self.storage.withLock { storage in Self.page(storage.activeReviews(storage.byUser[userID] ?? []), offset: offset, limit: limit) }
    }

    private static func page(_ reviews: [Review], offset: Int, limit: Int) -> ReviewPage {
        guard offset < reviews.count, limit > 0 else { return ReviewPage(reviews: [], total: reviews.count) }
        return ReviewPage(reviews: Array(reviews[max(0, offset)..<min(reviews.count, offset + limit)]), total: reviews.count)
    }

    public func update(id: String, changes: ReviewChanges, at date: Date) async throws -> Review? {
        self.storage.withLock { storage in
            guard var review = storage.reviews[id], review.isVisible else { return nil }
            changes.apply(to: &review)
            review.updatedAt = date
            storage.reviews[id] = review
            return review
        }
    }

    public func delete(id: String, at date: Date) async throws -> Review? {
        self.storage.withLock { $0.softDelete(id: id, at: date) }
    }

    public func incrementHelpful(id: String) async throws -> Review? {
        self.storage.withLock { storage in
            guard var review = storage.reviews[id], review.isVisible else { return nil }
            review.helpfulCount += 1
            storage.reviews[id] = review
            return review
        }
    }

    public func stats(bookID: String) async throws -> ReviewStats {
        self.storage.withLock { storage in
            let reviews = storage.reviews
            return ReviewStats(ratings: (storage.byBook[bookID] ?? []).compactMap { reviews[$0] }.filter { $0.status == .active }.map(\.rating))
        }
    }

    public func deleteAll(userID: String, at date: Date) async throws -> [Review] {
        self.storage.withLock { storage in
            (storage.byUser[userID] ?? []).compactMap { storage.softDelete(id: $0, at: date) }
        }
    }

    public func restore(_ review: Review) async throws {
        try self.storage.withLock { storage in
            guard var stored = storage.reviews[review.id] else { return }
            let key = ActiveKey(bookID: stored.bookID, userID: stored.userID)
            if review.status == .active, stored.status != .active {
                guard storage.active[key] == nil else { throw ReviewRepositoryError.duplicateActiveReview }
                storage.active[key] = review.id
            } else if review.status != .active, storage.active[key] == review.id {
                storage.active[key] = nil
            }
            stored.rating = review.rating
            stored.title = review.title
            stored.comment = review.comment
            stored.status = review.status
            stored.updatedAt = review.updatedAt
            storage.reviews[review.id] = stored
        }
    }

    public func remove(id: String) async throws {
        self.storage.withLock { storage in
            guard let review = storage.reviews.removeValue(forKey: id) else { return }
            let key = ActiveKey(bookID: review.bookID, userID: review.userID)
            if storage.active[key] == id { storage.active[key] = nil }
            storage.byBook[review.bookID]?.removeAll { $0 == id }
            storage.byUser[review.userID]?.removeAll { $0 == id }
        }
    }

    public func isHealthy() async -> Bool { true }
}
