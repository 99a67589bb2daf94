import BookstoreCore
import Foundation
import JSONKit

/// The moderation state of a review. Only `active` reviews are listed and counted in statistics; a `deleted`
/// review is gone for every client (404).
public enum ReviewStatus: String, Sendable, CaseIterable {
    case active
    case flagged
    case deleted
}

/// A review of a book by a user (SPEC §4.5).
public struct Review: Sendable, Equatable {
    public var id: String
    public var bookID: String
    public var userID: String
    /// 1–5.
    public var rating: Int
    public var title: String
    public var comment: String
    /// Set by the service from the `payment.completed` events it consumed, never by the client.
    public var verifiedPurchase: Bool
    public var helpfulCount: Int
    public var status: ReviewStatus
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String = UUID().lowercasedText,
        bookID: String,
        userID: String,
        rating: Int,
        title: String,
        comment: String,
        verifiedPurchase: Bool = false,
        helpfulCount: Int = 0,
        status: ReviewStatus = .active,
        createdAt: Date = Date(),
        updatedAt: Date? = nil
    ) {
        self.id = id
        self.bookID = bookID
        self.userID = userID
        self.rating = rating
        self.title = title
        self.comment = comment
        self.verifiedPurchase = verifiedPurchase
        self.helpfulCount = helpfulCount
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// Whether clients can still see and act on it.
    public var isVisible: Bool { self.status != .deleted }

    /// The review as the API returns it, fields in contract order.
    public var json: JSON {
        [
            "review_id": .string(self.id),
            "book_id": .string(self.bookID),
            "user_id": .string(self.userID),
            "rating": .int(self.rating),
            "title": .string(self.title),
            "comment": .string(self.comment),
            "verified_purchase": .bool(self.verifiedPurchase),
            "helpful_count": .int(self.helpfulCount),
            "status": .string(self.status.rawValue),
            "created_at": .string(Timestamp.iso8601(self.createdAt)),
            "updated_at": .string(Timestamp.iso8601(self.updatedAt)),
        ]
    }
}

/// The editable fields of a review; nil leaves a field unchanged.
public struct ReviewChanges: Sendable, Equatable {
    public var rating: Int?
    public var title: String?
    public var comment: String?

    public init(rating: Int? = nil, title: String? = nil, comment: String? = nil) {
        self.rating = rating
        self.title = title
        self.comment = comment
    }

    public var isEmpty: Bool { self.rating == nil && self.title == nil && self.comment == nil }

    /// Applies the changes to `review`.
    public func apply(to review: inout Review) {
        if let rating = self.rating { review.rating = rating }
        if let title = self.title { review.title = title }
        if let comment = self.comment { review.comment = comment }
    }
}

/// One page of reviews, newest first, and how many there are in all.
public struct ReviewPage: Sendable, Equatable {
    public var reviews: [Review]
    public var total: Int

    public init(reviews: [Review], total: Int) {
        self.reviews = reviews
        self.total = total
    }
}

/// The rating statistics of a book's active reviews.
public struct ReviewStats: Sendable, Equatable {
    /// How many active reviews gave each rating: index 0 is rating 1, index 4 is rating 5.
    public var distribution: [Int]

    public init(distribution: [Int] = [0, 0, 0, 0, 0]) {
        precondition(distribution.count == 5, "one count per rating 1...5")
        self.distribution = distribution
    }

    /// Statistics of `ratings` (values outside 1...5 are ignored).
    public init(ratings: some Sequence<Int>) {
        var distribution = [0, 0, 0, 0, 0]
        for rating in ratings where (1...5).contains(rating) { distribution[rating - 1] += 1 }
        self.init(distribution: distribution)
    }

    public var totalReviews: Int { self.distribution.reduce(0, +) }

    /// The mean rating rounded half up to two decimals, as an exact JSON number literal (`4.50`; `0.00` when there
    /// is no review). Computed with integers, so no binary floating-point rounding creeps in.
    public var averageRatingLiteral: String {
        let count = self.totalReviews
        guard count > 0 else { return "0.00" }
        let sum = self.distribution.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }
        let hundredths = (sum * 200 + count) / (2 * count)
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// `{book_id, average_rating, total_reviews, rating_distribution: {"1": n, …, "5": n}}`.
    public func json(bookID: String) -> JSON {
        var distribution = JSONObject()
        for (index, count) in self.distribution.enumerated() { distribution[String(index + 1)] = .int(count) }
        return [
            "book_id": .string(bookID),
            "average_rating": .number(self.averageRatingLiteral),
            "total_reviews": .int(self.totalReviews),
            "rating_distribution": .object(distribution),
        ]
    }
}
