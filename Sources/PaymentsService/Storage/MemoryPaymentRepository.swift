import BookstoreCore
import Foundation
import Synchronization

/// Payments in memory (embedded mode and tests), with the same uniqueness rules as the database adapters.
public final class MemoryPaymentRepository: PaymentRepository {
    private struct Stored {
        var payment: Payment
        /// Insertion order, breaking ties between equal `createdAt`.
        var sequence: Int
    }

    private struct KeyIndex: Hashable {
        var userID: String
        var key: String
    }

    private struct Storage {
        var payments: [String: Stored] = [:]
        var keys: [KeyIndex: String] = [:]
        var activeFingerprints: [String: String] = [:]
        var nextSequence = 0

        /// The fingerprint under which `payment` is indexed, if any: unkeyed payments that have not failed.
        static func activeFingerprint(of payment: Payment) -> String? {
            payment.idempotencyKey == nil && payment.status != .failed ? payment.fingerprint : nil
        }

        mutating func unindex(_ payment: Payment) {
            if let key = payment.idempotencyKey { self.keys[KeyIndex(userID: payment.userID, key: key)] = nil }
            if let fingerprint = Self.activeFingerprint(of: payment), self.activeFingerprints[fingerprint] == payment.paymentID {
                self.activeFingerprints[fingerprint] = nil
            }
        }
    }

    private let storage = Mutex(Storage())

    public init() {}

    public func insert(_ payment: Payment) async throws(PaymentRepositoryError) {
        try self.storage.withLock { storage throws(PaymentRepositoryError) in
            guard storage.payments[payment.paymentID] == nil else { throw .duplicatePaymentID }
            if let key = payment.idempotencyKey, storage.keys[KeyIndex(userID: payment.userID, key: key)] != nil {
                throw .duplicateIdempotencyKey
            }
            let fingerprint = Storage.activeFingerprint(of: payment)
            if let fingerprint, storage.activeFingerprints[fingerprint] != nil { throw .duplicateFingerprint }
            if let key = payment.idempotencyKey { storage.keys[KeyIndex(userID: payment.userID, key: key)] = payment.paymentID }
            if let fingerprint { storage.activeFingerprints[fingerprint] = payment.paymentID }
            storage.payments[payment.paymentID] = Stored(payment: payment, sequence: storage.nextSequence)
            storage.nextSequence += 1
        }
    }

    public func find(paymentID: String) async throws(PaymentRepositoryError) -> Payment? {
        self.storage.withLock { $0.payments[paymentID]?.payment }
    }

    public func find(userID: String, idempotencyKey: String) async throws(PaymentRepositoryError) -> Payment? {
        self.storage.withLock { storage in
            storage.keys[KeyIndex(userID: userID, key: idempotencyKey)].flatMap { storage.payments[$0]?.payment }
        }
    }

    public func findActive(fingerprint: String) async throws(PaymentRepositoryError) -> Payment? {
        self.storage.withLock { storage in
            storage.activeFingerprints[fingerprint].flatMap { storage.payments[$0]?.payment }
        }
    }

    public func list(userID: String, offset: Int, limit: Int) async throws(PaymentRepositoryError) -> PaymentPage {
        self.storage.withLock { storage in
            let mine = storage.payments.values.filter { $0.payment.userID == userID }
                .sorted { ($0.payment.createdAt, $0.sequence) > ($1.payment.createdAt, $1.sequence) }
            let page = mine.dropFirst(max(0, offset)).prefix(max(0, limit)).map(\.payment)
            return PaymentPage(payments: Array(page), total: mine.count)
        }
    }

    public func update(_ payment: Payment, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        try self.storage.withLock { storage throws(PaymentRepositoryError) in
            guard let stored = storage.payments[payment.paymentID] else { throw .notFound }
            guard stored.payment.status == expectedStatus else { throw .statusChanged(current: stored.payment.status) }
            // The unique indexes of the real stores hold for updates too (e.g. reviving a failed unkeyed payment while
            // another one with its fingerprint is active).
            if let key = payment.idempotencyKey, let holder = storage.keys[KeyIndex(userID: payment.userID, key: key)], holder != payment.paymentID {
                throw .duplicateIdempotencyKey
            }
            if let fingerprint = Storage.activeFingerprint(of: payment), let holder = storage.activeFingerprints[fingerprint],
                holder != payment.paymentID
            {
                throw .duplicateFingerprint
            }
            storage.unindex(stored.payment)
            if let key = payment.idempotencyKey { storage.keys[KeyIndex(userID: payment.userID, key: key)] = payment.paymentID }
            if let fingerprint = Storage.activeFingerprint(of: payment) { storage.activeFingerprints[fingerprint] = payment.paymentID }
            storage.payments[payment.paymentID]?.payment = payment
        }
    }

    public func takeOver(paymentID: String, staleBefore: Date, now: Date) async throws(PaymentRepositoryError) -> Bool {
        self.storage.withLock { storage in
            guard let stored = storage.payments[paymentID], stored.payment.status == .pending, stored.payment.updatedAt < staleBefore else {
                return false
            }
            storage.payments[paymentID]?.payment.updatedAt = now
            return true
        }
    }

    public func delete(paymentID: String, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        try self.storage.withLock { storage throws(PaymentRepositoryError) in
            guard let stored = storage.payments[paymentID] else { return }
            guard stored.payment.status == expectedStatus else { throw .statusChanged(current: stored.payment.status) }
            storage.unindex(stored.payment)
            storage.payments[paymentID] = nil
        }
    }

    public func clearPendingEvent(paymentID: String, eventID: String) async throws(PaymentRepositoryError) {
        self.storage.withLock { storage in
            guard storage.payments[paymentID]?.payment.pendingEventID == eventID else { return }
            storage.payments[paymentID]?.payment.pendingEventID = nil
        }
    }

    public func withPendingEvents(updatedBefore: Date, limit: Int) async throws(PaymentRepositoryError) -> [Payment] {
        self.storage.withLock { storage in
            Array(
                storage.payments.values.map(\.payment)
                    .filter { $0.pendingEventID != nil && $0.updatedAt < updatedBefore }
                    .sorted { $0.updatedAt < $1.updatedAt }
                    .prefix(max(0, limit))
            )
        }
    }

    public func isHealthy() async -> Bool { true }

    private let ledger = MemoryMessageLedger()

    public func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim {
        try await self.ledger.claim(messageID: messageID, queue: queue, now: now, leaseUntil: leaseUntil)
    }

    public func complete(messageID: String, queue: String) async throws {
        try await self.ledger.complete(messageID: messageID, queue: queue)
    }

    public func release(messageID: String, queue: String) async throws {
        try await self.ledger.release(messageID: messageID, queue: queue)
    }
}
