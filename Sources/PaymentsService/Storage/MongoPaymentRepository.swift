import BookstoreCore
import BookstoreMongo
import Foundation
import JSONKit

/// Payments in MongoDB, for the Python flavour (`payment_db.payments`).
///
/// The uniqueness rules are the server's unique indexes, so concurrent identical requests cannot both claim a payment:
/// `payment_id`; `(user_id, idempotency_key)` among payments with a key (the field is absent otherwise); and
/// `active_fingerprint`, which holds the fingerprint of an unkeyed payment that has not failed and is absent otherwise.
/// Plus `order_id`, `(user_id, created_at)` for the newest-first pages, and `status`. A duplicate key becomes the
/// ``PaymentRepositoryError`` of the violated index; a server that cannot be reached in `MONGO_TIMEOUT_MS` becomes
/// ``PaymentRepositoryError/unavailable(_:)`` (503).
///
/// Amounts are Decimal128 (`{"$numberDecimal": "19.90"}`), never binary floating point; timestamps are BSON dates.
/// Updates are conditional on the expected status (`findAndModify` with a status filter).
public final class MongoPaymentRepository: PaymentRepository {
    static let collectionName = "payments"
    static let processedMessagesName = "processed_messages"

    /// The names of the unique indexes, as the server reports them in a duplicate key error.
    enum IndexName {
        static let paymentID = "payment_id_unique"
        static let idempotencyKey = "user_id_idempotency_key_unique"
        static let activeFingerprint = "active_fingerprint_unique"
    }

    /// The indexes the store creates at start-up.
    public static let indexes = [
        MongoIndex(collection: collectionName, name: IndexName.paymentID, keys: ["payment_id": 1], unique: true),
        MongoIndex(
            collection: collectionName,
            name: IndexName.idempotencyKey,
            keys: ["user_id": 1, "idempotency_key": 1],
            unique: true,
            partialFilterExpression: ["idempotency_key": ["$exists": true]]
        ),
        MongoIndex(
            collection: collectionName,
            name: IndexName.activeFingerprint,
            keys: ["active_fingerprint": 1],
            unique: true,
            partialFilterExpression: ["active_fingerprint": ["$exists": true]]
        ),
        MongoIndex(collection: collectionName, name: "order_id", keys: ["order_id": 1]),
        MongoIndex(collection: collectionName, name: "user_id_created_at", keys: ["user_id": 1, "created_at": -1]),
        MongoIndex(collection: collectionName, name: "status", keys: ["status": 1]),
        MongoIndex(
            collection: collectionName,
            name: "pending_events",
            keys: ["updated_at": 1],
            partialFilterExpression: ["pending_event_id": ["$exists": true]]
        ),
        MongoIndex(collection: processedMessagesName, name: "queue_message_id", keys: ["queue": 1, "message_id": 1], unique: true),
    ]

    let store: MongoStore
    let payments: MongoCollection
    let processedMessages: MongoCollection

    public init(store: MongoStore) {
        self.store = store
        self.payments = store.collection(Self.collectionName)
        self.processedMessages = store.collection(Self.processedMessagesName)
    }

    public func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim {
        let key: JSONObject = ["queue": .string(queue), "message_id": .string(messageID)]
        // The takeover of a claim whose lease ran out without completing (documents from before leases have no
        // `completed` field and count as completed)…
        var expired = key
        expired["completed"] = false
        expired["lease_until"] = ["$lt": MongoValue.date(now)]
        let takeover: JSONObject = ["$set": ["lease_until": MongoValue.date(leaseUntil)]]
        if try await self.processedMessages.findOneAndUpdate(expired, takeover, returnNew: false) != nil { return .claimed }
        // …else a new claim, which the unique (queue, message_id) index lets one consumer win.
        var claim = key
        claim["completed"] = false
        claim["lease_until"] = MongoValue.date(leaseUntil)
        do {
            try await self.processedMessages.insertOne(claim)
            return .claimed
        } catch let error as MongoError where error.isDuplicateKey {
            let existing = try await self.processedMessages.findOne(key)
            return existing?["completed"] == .bool(false) ? .inProgress : .completed
        }
    }

    public func complete(messageID: String, queue: String) async throws {
        let key: JSONObject = ["queue": .string(queue), "message_id": .string(messageID)]
        _ = try await self.processedMessages.findOneAndUpdate(key, ["$set": ["completed": true], "$unset": ["lease_until": ""]], returnNew: false)
    }

    public func release(messageID: String, queue: String) async throws {
        _ = try await self.processedMessages.deleteOne(["queue": .string(queue), "message_id": .string(messageID), "completed": false])
    }

    public func insert(_ payment: Payment) async throws(PaymentRepositoryError) {
        try await self.run { try await $0.insertOne(Self.document(payment)) }
    }

    public func find(paymentID: String) async throws(PaymentRepositoryError) -> Payment? {
        try await self.findOne(["payment_id": .string(paymentID)])
    }

    public func find(userID: String, idempotencyKey: String) async throws(PaymentRepositoryError) -> Payment? {
        try await self.findOne(["user_id": .string(userID), "idempotency_key": .string(idempotencyKey)])
    }

    public func findActive(fingerprint: String) async throws(PaymentRepositoryError) -> Payment? {
        try await self.findOne(["active_fingerprint": .string(fingerprint)])
    }

    public func list(userID: String, offset: Int, limit: Int) async throws(PaymentRepositoryError) -> PaymentPage {
        let filter: JSONObject = ["user_id": .string(userID)]
        let (total, documents) = try await self.run { payments -> (Int, [JSONObject]) in
            let total = try await payments.count(filter)
            guard limit > 0, offset < total else { return (total, []) }
            // Newest first; payments created in the same millisecond in reverse insertion order (the ObjectId).
            return (total, try await payments.find(filter, sort: ["created_at": -1, "_id": -1], skip: max(0, offset), limit: limit))
        }
        var page: [Payment] = []
        for document in documents { page.append(try Self.payment(document)) }
        return PaymentPage(payments: page, total: total)
    }

    public func update(_ payment: Payment, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        var set = Self.document(payment)
        set["payment_id"] = nil
        var unset = JSONObject()
        for field in ["idempotency_key", "active_fingerprint", "pending_event_id"] where set[field] == nil { unset[field] = "" }
        var update: JSONObject = ["$set": .object(set)]
        if unset.count > 0 { update["$unset"] = .object(unset) }
        let filter: JSONObject = ["payment_id": .string(payment.paymentID), "status": .string(expectedStatus.rawValue)]
        let updated = try await self.run { try await $0.findOneAndUpdate(filter, update, returnNew: false) }
        if updated != nil { return }
        guard let current = try await self.find(paymentID: payment.paymentID) else { throw .notFound }
        throw .statusChanged(current: current.status)
    }

    public func takeOver(paymentID: String, staleBefore: Date, now: Date) async throws(PaymentRepositoryError) -> Bool {
        let filter: JSONObject = [
            "payment_id": .string(paymentID), "status": .string(PaymentStatus.pending.rawValue),
            "updated_at": ["$lt": MongoValue.date(staleBefore)],
        ]
        let update: JSONObject = ["$set": ["updated_at": MongoValue.date(now)]]
        return try await self.run { try await $0.findOneAndUpdate(filter, update, returnNew: false) } != nil
    }

    public func delete(paymentID: String, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        let filter: JSONObject = ["payment_id": .string(paymentID), "status": .string(expectedStatus.rawValue)]
        let deleted = try await self.run { try await $0.deleteOne(filter) }
        guard deleted == 0, let current = try await self.find(paymentID: paymentID) else { return }
        throw .statusChanged(current: current.status)
    }

    public func clearPendingEvent(paymentID: String, eventID: String) async throws(PaymentRepositoryError) {
        let filter: JSONObject = ["payment_id": .string(paymentID), "pending_event_id": .string(eventID)]
        _ = try await self.run { try await $0.updateOne(filter, ["$unset": ["pending_event_id": ""]]) }
    }

    public func withPendingEvents(updatedBefore: Date, limit: Int) async throws(PaymentRepositoryError) -> [Payment] {
        let filter: JSONObject = ["pending_event_id": ["$exists": true], "updated_at": ["$lt": MongoValue.date(updatedBefore)]]
        let documents = try await self.run { try await $0.find(filter, sort: ["updated_at": 1], skip: 0, limit: max(1, limit)) }
        var payments: [Payment] = []
        for document in documents { payments.append(try Self.payment(document)) }
        return payments
    }

    public func isHealthy() async -> Bool { await self.store.isHealthy() }

    private func findOne(_ filter: JSONObject) async throws(PaymentRepositoryError) -> Payment? {
        guard let document = try await self.run({ try await $0.findOne(filter) }) else { return nil }
        return try Self.payment(document)
    }

    /// Runs `body` on the collection, mapping every failure to a ``PaymentRepositoryError``: a duplicate key to the
    /// duplicate of its index, anything else to ``PaymentRepositoryError/unavailable(_:)`` with a text for the logs.
    private func run<T: Sendable>(_ body: (MongoCollection) async throws -> T) async throws(PaymentRepositoryError) -> T {
        do {
            return try await body(self.payments)
        } catch let error as MongoError where error.isDuplicateKey {
            switch error.indexName {
            case IndexName.paymentID: throw .duplicatePaymentID
            case IndexName.idempotencyKey: throw .duplicateIdempotencyKey
            case IndexName.activeFingerprint: throw .duplicateFingerprint
            default: throw .unavailable("database duplicate key on \(error.indexName ?? "an unknown index")")
            }
        } catch let error as MongoError {
            throw .unavailable(error.description)
        } catch let error as DependencyError {
            throw .unavailable(error.description)
        } catch {
            throw .unavailable(DependencyError(dependency: "database", underlying: error).description)
        }
    }

    // MARK: Document mapping

    static func document(_ payment: Payment) -> JSONObject {
        var document: JSONObject = [
            "payment_id": .string(payment.paymentID),
            "order_id": .string(payment.orderID),
            "user_id": .string(payment.userID),
            "amount": MongoValue.decimal(payment.amount.description),
            "currency": .string(payment.currency.rawValue),
            "payment_method": .string(payment.method.rawValue),
            "status": .string(payment.status.rawValue),
            "transaction_id": .optional(payment.transactionID),
            "message": .string(payment.message),
            "book_id": .optional(payment.bookID),
            "created_at": MongoValue.date(payment.createdAt),
            "updated_at": MongoValue.date(payment.updatedAt),
            "refunded_at": payment.refundedAt.map(MongoValue.date) ?? .null,
            "fingerprint": .string(payment.fingerprint),
        ]
        // Absent (not null) when unset, so the partial unique indexes skip them.
        if let key = payment.idempotencyKey { document["idempotency_key"] = .string(key) }
        if let event = payment.pendingEventID { document["pending_event_id"] = .string(event) }
        if payment.idempotencyKey == nil, payment.status != .failed { document["active_fingerprint"] = .string(payment.fingerprint) }
        return document
    }

    /// A stored date as the domain makes them (``currentMillisecondDate()``: milliseconds / 1000), so a payment reads
    /// back equal to the one stored.
    static func date(_ value: JSON?) -> Date? {
        MongoValue.milliseconds(from: value).map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    static func payment(_ document: JSONObject) throws(PaymentRepositoryError) -> Payment {
        guard let id = document["payment_id"]?.stringValue,
            let order = document["order_id"]?.stringValue,
            let user = document["user_id"]?.stringValue,
            let literal = MongoValue.decimal(from: document["amount"]),
            let amount = try? Money.parse(literal: literal),
            let currency = document["currency"]?.stringValue.flatMap(Currency.init(rawValue:)),
            let method = document["payment_method"]?.stringValue.flatMap(PaymentMethod.init(rawValue:)),
            let status = document["status"]?.stringValue.flatMap(PaymentStatus.init(rawValue:)),
            let message = document["message"]?.stringValue,
            let created = Self.date(document["created_at"]),
            let updated = Self.date(document["updated_at"]),
            let fingerprint = document["fingerprint"]?.stringValue
        else { throw .unavailable("database document of payments without its required fields") }
        return Payment(
            paymentID: id,
            orderID: order,
            userID: user,
            amount: amount,
            currency: currency,
            method: method,
            status: status,
            transactionID: document["transaction_id"]?.stringValue,
            message: message,
            bookID: document["book_id"]?.stringValue,
            createdAt: created,
            updatedAt: updated,
            refundedAt: Self.date(document["refunded_at"]),
            idempotencyKey: document["idempotency_key"]?.stringValue,
            fingerprint: fingerprint,
            pendingEventID: document["pending_event_id"]?.stringValue
        )
    }
}
