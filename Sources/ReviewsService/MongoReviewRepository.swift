import BookstoreCore
import BookstoreMongo
import Foundation
import JSONKit

/// Reviews in MongoDB (`review_db.reviews`).
///
/// Indexes: `review_id` unique; `(book_id, user_id)` unique among active reviews (a partial index, which is what makes
/// N parallel creates give exactly one success); `book_id`; `user_id`. Every write is one atomic server operation
/// (`insert`, `findAndModify` with `$set` or `$inc`). `created_at`/`updated_at` are BSON dates, so "newest first" sorts
/// by time; ties keep insertion order through the ObjectId `_id`.
public final class MongoReviewRepository: ReviewRepository {
    static let collectionName = "reviews"
    static let reviewIDIndex = "review_id_unique"
    static let activeReviewIndex = "book_id_user_id_active_unique"

    /// The indexes the store creates at start-up.
    public static let indexes = [
        MongoIndex(collection: collectionName, name: reviewIDIndex, keys: ["review_id": 1], unique: true),
        MongoIndex(
            collection: collectionName,
            name: activeReviewIndex,
            keys: ["book_id": 1, "user_id": 1],
            unique: true,
            partialFilterExpression: ["status": .string(ReviewStatus.active.rawValue)]
        ),
        MongoIndex(collection: collectionName, name: "book_id", keys: ["book_id": 1]),
        MongoIndex(collection: collectionName, name: "user_id", keys: ["user_id": 1]),
    ]

    let store: MongoStore
    let reviews: MongoCollection

    public init(store: MongoStore) {
        self.store = store
        self.reviews = store.collection(Self.collectionName)
    }

    /// Newest first; reviews created in the same millisecond in reverse insertion order.
    static let newestFirst: JSONObject = ["created_at": -1, "_id": -1]
    static let visible: JSON = ["$ne": .string(ReviewStatus.deleted.rawValue)]

    public func create(_ review: Review) async throws {
        do {
            try await self.reviews.insertOne(Self.document(review))
        } catch let error as MongoError where error.isDuplicateKey {
            if error.indexName == Self.reviewIDIndex { throw ReviewRepositoryError.duplicateID }
            if error.indexName == Self.activeReviewIndex { throw ReviewRepositoryError.duplicateActiveReview }
            // The server did not name the index: the id tells which constraint it was.
            throw try await self.find(id: review.id) != nil ? ReviewRepositoryError.duplicateID : ReviewRepositoryError.duplicateActiveReview
        }
    }

    public func find(id: String) async throws -> Review? {
        try await self.reviews.findOne(["review_id": .string(id)]).map(Self.review)
    }

    public func list(bookID: String, offset: Int, limit: Int) async throws -> ReviewPage {
        try await self.page(["book_id": .string(bookID), "status": .string(ReviewStatus.active.rawValue)], offset: offset, limit: limit)
    }

    public func list(userID: String, offset: Int, limit: Int) async throws -> ReviewPage {
        try await self.page(["user_id": .string(userID), "status": .string(ReviewStatus.active.rawValue)], offset: offset, limit: limit)
    }

    /// One page and the total in one round trip: a `$facet` aggregation counts the matches and sorts, skips and limits
    /// them in the same server command (the `book_id` and `user_id` indexes serve the `$match`).
    private func page(_ filter: JSONObject, offset: Int, limit: Int) async throws -> ReviewPage {
        guard limit > 0 else { return ReviewPage(reviews: [], total: try await self.reviews.count(filter)) }
        var pageStages: [JSON] = [["$sort": .object(Self.newestFirst)]]
        if offset > 0 { pageStages.append(["$skip": .int(offset)]) }
        pageStages.append(["$limit": .int(limit)])
        let facets = try await self.reviews.aggregate([
            ["$match": .object(filter)],
            ["$facet": ["total": [["$count": "n"]], "page": .array(pageStages)]],
        ])
        guard let result = facets.first else { return ReviewPage(reviews: [], total: 0) }
        let total = result["total"]?.arrayValue?.first?["n"]?.intValue ?? 0
        let reviews = try (result["page"]?.arrayValue ?? []).map { document in
            guard let object = document.objectValue else { throw StoredDocumentError(collection: Self.collectionName) }
            return try Self.review(object)
        }
        return ReviewPage(reviews: reviews, total: total)
    }

    public func update(id: String, changes: ReviewChanges, at date: Date) async throws -> Review? {
        var set: JSONObject = ["updated_at": MongoValue.date(date)]
        if let rating = changes.rating { set["rating"] = .int(rating) }
        if let title = changes.title { set["title"] = .string(title) }
        if let comment = changes.comment { set["comment"] = .string(comment) }
        return try await self.modifyVisible(id: id, ["$set": .object(set)])
    }

    public func delete(id: String, at date: Date) async throws -> Review? {
        try await self.modifyVisible(id: id, ["$set": ["status": .string(ReviewStatus.deleted.rawValue), "updated_at": MongoValue.date(date)]])
    }

    public func incrementHelpful(id: String) async throws -> Review? {
        try await self.modifyVisible(id: id, ["$inc": ["helpful_count": 1]])
    }

    /// Atomically applies `update` to the review when it is visible; returns the updated review.
    private func modifyVisible(id: String, _ update: JSONObject) async throws -> Review? {
        try await self.reviews.findOneAndUpdate(["review_id": .string(id), "status": Self.visible], update).map(Self.review)
    }

    public func stats(bookID: String) async throws -> ReviewStats {
        let groups = try await self.reviews.aggregate([
            ["$match": ["book_id": .string(bookID), "status": .string(ReviewStatus.active.rawValue)]],
            ["$group": ["_id": "$rating", "count": ["$sum": 1]]],
        ])
        var distribution = [0, 0, 0, 0, 0]
        for group in groups {
            guard let rating = group["_id"]?.intValue, (1...5).contains(rating), let count = group["count"]?.intValue else { continue }
            distribution[rating - 1] += count
        }
        return ReviewStats(distribution: distribution)
    }

    public func deleteAll(userID: String, at date: Date) async throws -> [Review] {
        // One atomic soft delete per review, so a review deleted concurrently is reported by one caller only.
        let candidates = try await self.reviews.find(
            ["user_id": .string(userID), "status": Self.visible],
            sort: ["_id": 1],
            projection: ["review_id": 1, "_id": 0]
        )
        var deleted: [Review] = []
        for candidate in candidates {
            guard let id = candidate["review_id"]?.stringValue, let review = try await self.delete(id: id, at: date) else { continue }
            deleted.append(review)
        }
        return deleted
    }

    public func restore(_ review: Review) async throws {
        let document = Self.document(review)
        var set = JSONObject()
        for field in ["rating", "title", "comment", "status", "updated_at"] { set[field] = document[field] }
        do {
            _ = try await self.reviews.updateOne(["review_id": .string(review.id)], ["$set": .object(set)])
        } catch let error as MongoError where error.isDuplicateKey {
            throw ReviewRepositoryError.duplicateActiveReview
        }
    }

    public func remove(id: String) async throws {
        _ = try await self.reviews.deleteOne(["review_id": .string(id)])
    }

    public func isHealthy() async -> Bool { await self.store.isHealthy() }

    // MARK: Mapping

    static func document(_ review: Review) -> JSONObject {
        [
            "review_id": .string(review.id),
            "book_id": .string(review.bookID),
            "user_id": .string(review.userID),
            "rating": .int(review.rating),
            "title": .string(review.title),
            "comment": .string(review.comment),
            "verified_purchase": .bool(review.verifiedPurchase),
            "helpful_count": .int(review.helpfulCount),
            "status": .string(review.status.rawValue),
            "created_at": MongoValue.date(review.createdAt),
            "updated_at": MongoValue.date(review.updatedAt),
        ]
    }

    static func review(_ document: JSONObject) throws -> Review {
        guard let id = document["review_id"]?.stringValue,
            let bookID = document["book_id"]?.stringValue,
            let userID = document["user_id"]?.stringValue,
            let rating = document["rating"]?.intValue,
            let title = document["title"]?.stringValue,
            let comment = document["comment"]?.stringValue,
            let status = document["status"]?.stringValue.flatMap(ReviewStatus.init(rawValue:)),
            let createdAt = MongoValue.date(from: document["created_at"])
        else { throw StoredDocumentError(collection: collectionName) }
        return Review(
            id: id,
            bookID: bookID,
            userID: userID,
            rating: rating,
            title: title,
            comment: comment,
            verifiedPurchase: document["verified_purchase"]?.boolValue ?? false,
            helpfulCount: document["helpful_count"]?.intValue ?? 0,
            status: status,
            createdAt: createdAt,
            updatedAt: MongoValue.date(from: document["updated_at"]) ?? createdAt
        )
    }
}

/// A stored document without the fields a repository needs (written by something else): a 500, logged.
struct StoredDocumentError: Error, CustomStringConvertible {
    let collection: String

    var description: String { "a document of \(self.collection) is missing required fields" }
}
