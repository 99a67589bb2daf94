import Foundation

/// Why a review could not be stored.
public enum ReviewRepositoryError: Error, Sendable, Equatable {
    /// The user already has an active review of the book.
    case duplicateActiveReview
    /// A review with the same id exists already.
    case duplicateID
}

/// Storage of reviews (`review_db.reviews` in MongoDB: `review_id` unique, `(book_id, user_id)` unique among active
/// reviews (a partial index), `book_id`, `user_id`).
///
/// Every write is a single atomic operation of the store, so concurrent requests cannot break the one-active-review
/// rule or lose a helpful vote. "Visible" means any status but `deleted`.
public protocol ReviewRepository: Sendable {
    /// Stores a new review; throws ``ReviewRepositoryError/duplicateActiveReview`` when the user already has an
    /// active review of the book, ``ReviewRepositoryError/duplicateID`` when the id is taken.
    func create(_ review: Review) async throws
    /// The review with `id` in any status (deleted included), or nil.
    func find(id: String) async throws -> Review?
    /// Active reviews of a book, newest first.
    func list(bookID: String, offset: Int, limit: Int) async throws -> ReviewPage
    /// Active reviews written by a user, newest first.
    func list(userID: String, offset: Int, limit: Int) async throws -> ReviewPage
    /// Applies `changes` to a visible review and sets `updated_at`; nil when it does not exist or is deleted.
    func update(id: String, changes: ReviewChanges, at date: Date) async throws -> Review?
    /// Soft-deletes a visible review (status `deleted`); nil when it does not exist or is already deleted.
    func delete(id: String, at date: Date) async throws -> Review?
    /// Adds one to the helpful count of a visible review; nil when it does not exist or is deleted.
    func incrementHelpful(id: String) async throws -> Review?
    /// Rating statistics of a book's active reviews.
    func stats(bookID: String) async throws -> ReviewStats
    /// Soft-deletes every visible review of a user; returns the reviews it deleted.
    func deleteAll(userID: String, at date: Date) async throws -> [Review]
    /// Puts back a review's rating, title, comment, status and `updated_at` as they were in `review` (its helpful count
    /// stays as stored): undoes an update or a delete whose event could not be stored.
    func restore(_ review: Review) async throws
    /// Removes a review for good: undoes a creation whose event could not be stored.
    func remove(id: String) async throws
    /// Whether the store is reachable (readiness).
    func isHealthy() async -> Bool
}
