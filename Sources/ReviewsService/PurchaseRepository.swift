import Synchronization

/// The purchases the review service has learnt of from payment events, which decide `verified_purchase`.
///
/// A purchase is keyed by its payment id, so a redelivered event changes nothing. A refund removes the purchase
/// for reviews written afterwards; reviews already written keep their flag (they were verified when written).
/// In MongoDB: `review_db.purchases` with `payment_id` unique and `(user_id, book_id)`.
public protocol PurchaseRepository: Sendable {
    /// Records that `userID` bought `bookID` in payment `paymentID` (idempotent; ignored for a refunded payment).
    func recordPurchase(paymentID: String, userID: String, bookID: String) async throws
    /// Forgets a refunded purchase: the payment `paymentID` when known, otherwise every purchase of `bookID` by
    /// `userID`. A refund seen before its payment keeps that payment from being recorded later.
    func revokePurchase(paymentID: String?, userID: String, bookID: String?) async throws
    /// Whether `userID` has a purchase of `bookID` that was not refunded.
    func hasPurchased(userID: String, bookID: String) async throws -> Bool
    /// Whether the store is reachable (readiness).
    func isHealthy() async -> Bool
}

/// The in-memory purchase store of the embedded mode.
public final class MemoryPurchaseRepository: PurchaseRepository {
    private struct PurchaseKey: Hashable {
        let userID: String
        let bookID: String
    }

    private struct Storage {
        var payments: [String: PurchaseKey] = [:]
        var byKey: [PurchaseKey: Set<String>] = [:]
        var refunded: Set<String> = []
    }

    private let storage = Mutex(Storage())

    public init() {}

    public func recordPurchase(paymentID: String, userID: String, bookID: String) async throws {
        self.storage.withLock { storage in
            guard storage.payments[paymentID] == nil, !storage.refunded.contains(paymentID) else { return }
            let key = PurchaseKey(userID: userID, bookID: bookID)
            storage.payments[paymentID] = key
            storage.byKey[key, default: []].insert(paymentID)
        }
    }

    public func revokePurchase(paymentID: String?, userID: String, bookID: String?) async throws {
        self.storage.withLock { storage in
            if let paymentID {
                storage.refunded.insert(paymentID)
                if let key = storage.payments.removeValue(forKey: paymentID) {
                    storage.byKey[key]?.remove(paymentID)
                    if storage.byKey[key]?.isEmpty == true { storage.byKey[key] = nil }
                    return
                }
            }
            guard let bookID else { return }
            let key = PurchaseKey(userID: userID, bookID: bookID)
            for payment in storage.byKey.removeValue(forKey: key) ?? [] { storage.payments[payment] = nil }
        }
    }

    public func hasPurchased(userID: String, bookID: String) async throws -> Bool {
        self.storage.withLock { storage in !(storage.byKey[PurchaseKey(userID: userID, bookID: bookID)]?.isEmpty ?? true) }
    }

    public func isHealthy() async -> Bool { true }
}
