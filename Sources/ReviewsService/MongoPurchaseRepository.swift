import BookstoreCore
import BookstoreMongo
import Foundation
import JSONKit

/// Purchases in MongoDB (`review_db.purchases`): one document per payment, `{payment_id, user_id, book_id, refunded,
/// created_at}`, with `payment_id` unique and `(user_id, book_id)`.
///
/// A refund of a known payment marks its document `refunded` (a tombstone, so a redelivered `payment.completed` cannot
/// bring it back); a refund of an unknown payment stores the tombstone first. A refund without a known payment but with
/// a book removes every purchase of that book by the user, as the in-memory store does.
public final class MongoPurchaseRepository: PurchaseRepository {
    static let collectionName = "purchases"

    /// The indexes the store creates at start-up.
    public static let indexes = [
        MongoIndex(collection: collectionName, name: "payment_id_unique", keys: ["payment_id": 1], unique: true),
        MongoIndex(collection: collectionName, name: "user_id_book_id", keys: ["user_id": 1, "book_id": 1]),
    ]

    let store: MongoStore
    let purchases: MongoCollection

    public init(store: MongoStore) {
        self.store = store
        self.purchases = store.collection(Self.collectionName)
    }

    public func recordPurchase(paymentID: String, userID: String, bookID: String) async throws {
        let purchase: JSONObject = [
            "payment_id": .string(paymentID),
            "user_id": .string(userID),
            "book_id": .string(bookID),
            "refunded": false,
            "created_at": MongoValue.date(Date()),
        ]
        do {
            // Inserts only when the payment is unknown: a redelivery or a refund tombstone leaves it as it is.
            try await self.purchases.updateOne(["payment_id": .string(paymentID)], ["$setOnInsert": .object(purchase)], upsert: true)
        } catch let error as MongoError where error.isDuplicateKey {
            // A concurrent delivery of the same payment inserted it first.
        }
    }

    public func revokePurchase(paymentID: String?, userID: String, bookID: String?) async throws {
        if let paymentID {
            let previous = try await self.markRefunded(paymentID: paymentID, userID: userID, bookID: bookID)
            // A purchase that was recorded and not yet refunded: revoking it is all there is to do.
            if let previous, previous["refunded"]?.boolValue == false { return }
        }
        guard let bookID else { return }
        try await self.purchases.deleteMany(["user_id": .string(userID), "book_id": .string(bookID), "refunded": false])
    }

    /// Marks the payment refunded, storing a tombstone when it is unknown; returns the document as it was before.
    private func markRefunded(paymentID: String, userID: String, bookID: String?) async throws -> JSONObject? {
        let update: JSONObject = [
            "$set": ["refunded": true],
            "$setOnInsert": ["user_id": .string(userID), "book_id": JSON.optional(bookID), "created_at": MongoValue.date(Date())],
        ]
        do {
            return try await self.purchases.findOneAndUpdate(["payment_id": .string(paymentID)], update, upsert: true, returnNew: false)
        } catch let error as MongoError where error.isDuplicateKey {
            // Inserted concurrently: now it exists, so the update applies to it.
            return try await self.purchases.findOneAndUpdate(["payment_id": .string(paymentID)], update, returnNew: false)
        }
    }

    public func hasPurchased(userID: String, bookID: String) async throws -> Bool {
        try await self.purchases.findOne(["user_id": .string(userID), "book_id": .string(bookID), "refunded": false], projection: ["_id": 1]) != nil
    }

    public func isHealthy() async -> Bool { await self.store.isHealthy() }
}
