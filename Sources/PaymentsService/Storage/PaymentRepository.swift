import BookstoreCore
import Foundation

/// Why a repository operation failed. Uniqueness is enforced by the repository itself (unique indexes in MongoDB and
/// PostgreSQL), so concurrent requests cannot both claim the same key.
public enum PaymentRepositoryError: Error, Sendable, Equatable {
    /// A payment with this `payment_id` exists.
    case duplicatePaymentID
    /// This user already used this idempotency key.
    case duplicateIdempotencyKey
    /// A payment without idempotency key and with the same fingerprint exists and has not failed.
    case duplicateFingerprint
    /// No payment with this id.
    case notFound
    /// The payment's status is no longer the expected one (a concurrent change won).
    case statusChanged(current: PaymentStatus)
    /// The store cannot be reached; the text is for logs only, never for clients.
    case unavailable(String)
}

/// One page of a user's payments, newest first, and how many there are in all.
public struct PaymentPage: Sendable, Equatable {
    public var payments: [Payment]
    public var total: Int

    public init(payments: [Payment], total: Int) {
        self.payments = payments
        self.total = total
    }
}

/// Where payments are stored.
///
/// Adapters: memory (``MemoryPaymentRepository``); MongoDB for the Python flavour (`payment_db.payments`, unique
/// indexes on `payment_id`, on `(user_id, idempotency_key)` where a key is set and on `active_fingerprint` — the
/// fingerprint of an unkeyed payment that has not failed, unset otherwise — plus indexes on `order_id`, `user_id`
/// and `status`); PostgreSQL for the Java flavour (`payment_db`, table `payments` with the same columns, a primary key
/// on `payment_id` and partial unique indexes `(user_id, idempotency_key) WHERE idempotency_key IS NOT NULL` and
/// `(fingerprint) WHERE idempotency_key IS NULL AND status <> 'failed'`) and a column `pending_event_id` (the
/// transactional outbox, with a partial index on `updated_at` where it is set; MongoDB: a field and a partial index).
/// Updates are conditional on the expected status (`UPDATE … WHERE payment_id = $1 AND status = $2`, `findOneAndUpdate` with a status filter).
public protocol PaymentRepository: MessageLedger {
    /// Stores a new payment.
    /// - Throws: ``PaymentRepositoryError/duplicatePaymentID``, ``PaymentRepositoryError/duplicateIdempotencyKey``
    ///   when `(userID, idempotencyKey)` is taken, ``PaymentRepositoryError/duplicateFingerprint`` when the payment has
    ///   no key and another unkeyed payment with its fingerprint has not failed.
    func insert(_ payment: Payment) async throws(PaymentRepositoryError)

    /// The payment with this id.
    func find(paymentID: String) async throws(PaymentRepositoryError) -> Payment?

    /// The payment `userID` made with `idempotencyKey`.
    func find(userID: String, idempotencyKey: String) async throws(PaymentRepositoryError) -> Payment?

    /// The payment without idempotency key, with this fingerprint, that has not failed (at most one exists).
    func findActive(fingerprint: String) async throws(PaymentRepositoryError) -> Payment?

    /// A page of `userID`'s payments, newest first.
    func list(userID: String, offset: Int, limit: Int) async throws(PaymentRepositoryError) -> PaymentPage

    /// Replaces a stored payment, provided its stored status is still `expectedStatus`.
    /// - Throws: ``PaymentRepositoryError/notFound`` or ``PaymentRepositoryError/statusChanged(current:)``.
    func update(_ payment: Payment, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError)

    /// Takes an abandoned `pending` claim over: sets its `updated_at` to `now`, provided it is still `pending` and was
    /// last updated before `staleBefore`. The condition and the change are one atomic statement, so of N concurrent
    /// repetitions exactly one wins (`true`); the others see a fresh claim and wait for its outcome.
    func takeOver(paymentID: String, staleBefore: Date, now: Date) async throws(PaymentRepositoryError) -> Bool

    /// Removes a payment whose status is still `expectedStatus` (a `pending` claim that was never charged); removing
    /// one that is already gone is not an error.
    func delete(paymentID: String, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError)

    /// Forgets a payment's pending event once the bus took it, provided it is still `eventID` (a later state change
    /// may have set another one).
    func clearPendingEvent(paymentID: String, eventID: String) async throws(PaymentRepositoryError)

    /// Payments whose event the bus has not taken, last updated before `updatedBefore`, oldest first, at most `limit`.
    func withPendingEvents(updatedBefore: Date, limit: Int) async throws(PaymentRepositoryError) -> [Payment]

    /// Whether the store answers (readiness).
    func isHealthy() async -> Bool
}

extension PaymentRepository {
    /// Renews a live claim's lease: sets its `updated_at` to `now` if it is still `pending`. Returns false once the
    /// claim is gone or no longer pending (its outcome is stored).
    public func renewClaim(paymentID: String, now: Date) async throws(PaymentRepositoryError) -> Bool {
        try await self.takeOver(paymentID: paymentID, staleBefore: .distantFuture, now: now)
    }
}
