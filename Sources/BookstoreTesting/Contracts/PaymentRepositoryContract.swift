import BookstoreCore
import Foundation
import PaymentsService
import Testing

/// What every `PaymentRepository` adapter must do, whatever the store: the shared fixtures and test bodies of
/// `MemoryPaymentRepositoryContractTests` (PaymentsServiceTests), `MongoPaymentRepositoryTests` and
/// `PostgresPaymentRepositoryTests` (IntegrationTests). Each body expects an empty repository. The suites run
/// ``checks`` as one parameterised test and keep their own `@Test` functions for what is specific to their store.
public enum PaymentRepositoryContract {
    /// Every store-agnostic check, by the name of its body.
    public static let checks: [ContractCheck<any PaymentRepository>] = [
        ContractCheck("everyOperationRoundTripsExactly") { _ = try await everyOperationRoundTripsExactly($0) },
        ContractCheck("moneyIsStoredAsExactDecimals") { try await moneyIsStoredAsExactDecimals($0) },
        ContractCheck("paymentIDIsUnique") { try await paymentIDIsUnique($0) },
        ContractCheck("idempotencyKeysAreUniquePerUser") { try await idempotencyKeysAreUniquePerUser($0) },
        ContractCheck("anUnkeyedFingerprintIsClaimedOnceUntilItFails") { try await anUnkeyedFingerprintIsClaimedOnceUntilItFails($0) },
        ContractCheck("updatesAreConditionalOnTheStatus") { try await updatesAreConditionalOnTheStatus($0) },
        ContractCheck("concurrentRefundsHaveOneWinner") { try await concurrentRefundsHaveOneWinner($0) },
        ContractCheck("anAbandonedClaimIsTakenOverOnce") { try await anAbandonedClaimIsTakenOverOnce($0) },
        ContractCheck("messageClaimsAreLeases") { try await messageClaimsAreLeases($0) },
        ContractCheck("pendingEventsAreStoredWithTheStateChange") { try await pendingEventsAreStoredWithTheStateChange($0) },
        ContractCheck("deletingAPendingClaimReleasesItsKeys") { try await deletingAPendingClaimReleasesItsKeys($0) },
        ContractCheck("listsNewestFirstWithTotals") { try await listsNewestFirstWithTotals($0) },
        ContractCheck("twentyParallelIdenticalClaimsHaveOneWinner") { try await twentyParallelIdenticalClaimsHaveOneWinner($0) },
    ]

    /// A millisecond timestamp, the precision the service writes.
    public static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    public static func payment(
        id: String = UUID().lowercasedText,
        order: String = "order-1",
        user: String = "user-1",
        status: PaymentStatus = .pending,
        key: String? = nil,
        createdAt: Date = PaymentRepositoryContract.date(1_700_000_000_123)
    ) -> Payment {
        Payment(
            paymentID: id,
            orderID: order,
            userID: user,
            amount: Money(cents: 1990),
            currency: .usd,
            method: .creditCard,
            status: status,
            transactionID: nil,
            message: "Payment is being processed",
            bookID: nil,
            createdAt: createdAt,
            updatedAt: createdAt,
            refundedAt: nil,
            idempotencyKey: key,
            fingerprint: "\(order)|\(user)"
        )
    }

    /// Runs `count` copies of `operation` in parallel: how many succeeded, and the errors of the others.
    public static func race(
        _ count: Int,
        _ operation: @escaping @Sendable (Int) async throws(PaymentRepositoryError) -> Void
    ) async -> (wins: Int, errors: [PaymentRepositoryError]) {
        await withTaskGroup(of: PaymentRepositoryError?.self) { group in
            for index in 0..<count {
                group.addTask {
                    do throws(PaymentRepositoryError) {
                        try await operation(index)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var wins = 0
            var errors: [PaymentRepositoryError] = []
            for await outcome in group {
                if let outcome { errors.append(outcome) } else { wins += 1 }
            }
            return (wins, errors)
        }
    }

    /// Inserts, finds, updates, lists and deletes; returns the keyed payment as finally stored (refunded), for checks
    /// of its stored form.
    @discardableResult
    public static func everyOperationRoundTripsExactly(_ repository: any PaymentRepository) async throws -> Payment {
        var payment = self.payment(id: "6f1c2a52-8d4e-4a0b-9a57-0f8f5d2b8c11", key: "key-1")
        payment.amount = Money(cents: 100_000_000)
        payment.currency = .gbp
        payment.method = .bankTransfer
        payment.bookID = "book-42"
        try await repository.insert(payment)
        #expect(try await repository.find(paymentID: payment.paymentID) == payment)
        #expect(try await repository.find(userID: "user-1", idempotencyKey: "key-1") == payment)
        #expect(try await repository.find(paymentID: "missing") == nil)
        #expect(try await repository.find(userID: "user-2", idempotencyKey: "key-1") == nil)
        #expect(try await repository.findActive(fingerprint: payment.fingerprint) == nil, "a keyed payment has no active fingerprint")

        var completed = payment
        completed.status = .completed
        completed.transactionID = "TXN-0123456789AB"
        completed.message = "Payment processed successfully"
        completed.updatedAt = self.date(1_700_000_001_999)
        try await repository.update(completed, expectedStatus: .pending)
        #expect(try await repository.find(paymentID: payment.paymentID) == completed)

        var refunded = completed
        refunded.status = .refunded
        refunded.refundedAt = self.date(1_700_000_002_001)
        refunded.updatedAt = self.date(1_700_000_002_001)
        refunded.message = "Payment refunded successfully"
        try await repository.update(refunded, expectedStatus: .completed)
        #expect(try await repository.find(paymentID: payment.paymentID) == refunded)
        #expect(try await repository.list(userID: "user-1", offset: 0, limit: 10) == PaymentPage(payments: [refunded], total: 1))

        let unkeyed = self.payment(id: "p-unkeyed", order: "order-2")
        try await repository.insert(unkeyed)
        #expect(try await repository.findActive(fingerprint: "order-2|user-1") == unkeyed)
        try await repository.delete(paymentID: "p-unkeyed", expectedStatus: .pending)
        #expect(try await repository.find(paymentID: "p-unkeyed") == nil)
        #expect(try await repository.findActive(fingerprint: "order-2|user-1") == nil)
        #expect(await repository.isHealthy())
        return refunded
    }

    /// The amounts `moneyIsStoredAsExactDecimals` stores, in cents, with their exact decimal text; payment `p<cents>`
    /// holds each.
    public static let exactAmounts: [Int64: String] = [
        1: "0.01", 10: "0.10", 1990: "19.90", 99_999_999: "999999.99", 100_000_000: "1000000.00", 12_345_678: "123456.78",
    ]

    /// Stores one payment per `exactAmounts` entry and reads each amount back unchanged; the suites then check the
    /// stored form.
    public static func moneyIsStoredAsExactDecimals(_ repository: any PaymentRepository) async throws {
        for cents in self.exactAmounts.keys.sorted() {
            var payment = self.payment(id: "p\(cents)", order: "o\(cents)")
            payment.amount = Money(cents: cents)
            try await repository.insert(payment)
            #expect(try await repository.find(paymentID: "p\(cents)")?.amount == Money(cents: cents))
        }
    }

    public static func paymentIDIsUnique(_ repository: any PaymentRepository) async throws {
        let first = self.payment(id: "p1")
        try await repository.insert(first)
        await #expect(throws: PaymentRepositoryError.duplicatePaymentID) {
            try await repository.insert(self.payment(id: "p1", order: "other"))
        }
        await #expect(throws: PaymentRepositoryError.duplicatePaymentID) {
            try await repository.insert(self.payment(id: "p1", order: "other", key: "k"))
        }
        #expect(try await repository.find(paymentID: "p1") == first)
    }

    public static func idempotencyKeysAreUniquePerUser(_ repository: any PaymentRepository) async throws {
        try await repository.insert(self.payment(order: "a", key: "k1"))
        await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) {
            try await repository.insert(self.payment(order: "b", key: "k1"))
        }
        // The same key for another user, and another key for the same user, are fine.
        try await repository.insert(self.payment(order: "a", user: "user-2", key: "k1"))
        try await repository.insert(self.payment(order: "a", key: "k2"))
        #expect(try await repository.find(userID: "user-1", idempotencyKey: "k1")?.orderID == "a")
        #expect(try await repository.find(userID: "user-2", idempotencyKey: "k1")?.userID == "user-2")
        #expect(try await repository.find(userID: "user-3", idempotencyKey: "k1") == nil)
        // A failed keyed payment keeps its key.
        var failed = try #require(try await repository.find(userID: "user-1", idempotencyKey: "k2"))
        failed.status = .failed
        try await repository.update(failed, expectedStatus: .pending)
        await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) {
            try await repository.insert(self.payment(order: "a", key: "k2"))
        }
    }

    public static func anUnkeyedFingerprintIsClaimedOnceUntilItFails(_ repository: any PaymentRepository) async throws {
        var first = self.payment(id: "p1")
        try await repository.insert(first)
        await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
        // A keyed request with the same body does not take part, nor does an already failed one.
        try await repository.insert(self.payment(id: "p3", key: "k"))
        try await repository.insert(self.payment(id: "p3f", status: .failed))
        #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p1")

        first.status = .completed
        try await repository.update(first, expectedStatus: .pending)
        await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
        first.status = .failed
        try await repository.update(first, expectedStatus: .completed)
        #expect(try await repository.findActive(fingerprint: "order-1|user-1") == nil)
        try await repository.insert(self.payment(id: "p4"))
        #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p4")
        // Reviving the failed one would make two active payments: the unique index refuses.
        var revived = first
        revived.status = .completed
        await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.update(revived, expectedStatus: .failed) }
    }

    public static func updatesAreConditionalOnTheStatus(_ repository: any PaymentRepository) async throws {
        var payment = self.payment(id: "p1")
        try await repository.insert(payment)
        payment.status = .completed
        try await repository.update(payment, expectedStatus: .pending)
        payment.status = .refunded
        await #expect(throws: PaymentRepositoryError.statusChanged(current: .completed)) {
            try await repository.update(payment, expectedStatus: .pending)
        }
        try await repository.update(payment, expectedStatus: .completed)
        #expect(try await repository.find(paymentID: "p1")?.status == .refunded)
        await #expect(throws: PaymentRepositoryError.notFound) {
            try await repository.update(self.payment(id: "nope"), expectedStatus: .pending)
        }
    }

    public static func concurrentRefundsHaveOneWinner(_ repository: any PaymentRepository) async throws {
        var completed = self.payment(id: "p1", status: .completed)
        completed.transactionID = "TXN-0123456789AB"
        try await repository.insert(completed)
        let payment = completed
        let outcome = await self.race(20) { index async throws(PaymentRepositoryError) in
            var refunded = payment
            refunded.status = .refunded
            refunded.refundedAt = Self.date(1_700_000_100_000 + Int64(index))
            try await repository.update(refunded, expectedStatus: .completed)
        }
        #expect(outcome.wins == 1)
        #expect(outcome.errors == Array(repeating: .statusChanged(current: .refunded), count: 19))
        #expect(try await repository.find(paymentID: "p1")?.status == .refunded)
    }

    /// Of 20 concurrent takeovers of one stale claim exactly one wins; a fresh claim or a finished payment is never taken.
    /// Renewing a claim's lease moves a pending claim only.
    public static func anAbandonedClaimIsTakenOverOnce(_ repository: any PaymentRepository) async throws {
        let stale = self.payment(id: "p1", key: "k", createdAt: Self.date(1_700_000_000_000))
        try await repository.insert(stale)
        let cutoff = Self.date(1_700_000_060_000)
        let outcome = await self.race(20) { index async throws(PaymentRepositoryError) in
            let won = try await repository.takeOver(paymentID: "p1", staleBefore: cutoff, now: Self.date(1_700_000_100_000 + Int64(index)))
            if !won { throw .statusChanged(current: .pending) }
        }
        #expect(outcome.wins == 1)
        #expect(outcome.errors.count == 19)
        let taken = try #require(try await repository.find(paymentID: "p1"))
        #expect(taken.status == .pending && taken.updatedAt >= Self.date(1_700_000_100_000))
        #expect(try await !repository.takeOver(paymentID: "p1", staleBefore: cutoff, now: Self.date(1_700_000_200_000)), "now fresh")
        var completed = self.payment(id: "p2", status: .completed, createdAt: Self.date(1_700_000_000_000))
        completed.transactionID = "TXN-0123456789AB"
        try await repository.insert(completed)
        #expect(try await !repository.takeOver(paymentID: "p2", staleBefore: cutoff, now: Self.date(1_700_000_200_000)), "not pending")
        #expect(try await !repository.takeOver(paymentID: "missing", staleBefore: cutoff, now: Self.date(1_700_000_200_000)))
        #expect(try await repository.find(paymentID: "p2") == completed)
        // Its owner renews a live claim's lease; an outcome already stored, or a claim gone, is not renewed.
        #expect(try await repository.renewClaim(paymentID: "p1", now: Self.date(1_700_000_300_000)))
        #expect(try await repository.find(paymentID: "p1")?.updatedAt == Self.date(1_700_000_300_000))
        #expect(try await !repository.renewClaim(paymentID: "p2", now: Self.date(1_700_000_300_000)), "not pending")
        #expect(try await !repository.renewClaim(paymentID: "missing", now: Self.date(1_700_000_300_000)))
        #expect(try await repository.find(paymentID: "p2") == completed)
    }

    /// The message ledger's leases: one winner among concurrent claims; an unexpired claim is in progress, an expired
    /// one is taken over; a completed message stays a duplicate (release does not undo it); release frees a claim.
    public static func messageClaimsAreLeases(_ repository: any PaymentRepository) async throws {
        let now = Date()
        let lease = now.addingTimeInterval(30)
        let outcomes = await withTaskGroup(of: LedgerClaim?.self) { group in
            for _ in 0..<20 { group.addTask { try? await repository.claim(messageID: "m1", queue: "q", now: now, leaseUntil: lease) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .claimed }.count == 1)
        #expect(outcomes.filter { $0 == .inProgress }.count == 19)
        // The lease ran out (the consumer died, or could not release): the next claim takes it over, once.
        let later = now.addingTimeInterval(31)
        #expect(try await repository.claim(messageID: "m1", queue: "q", now: later, leaseUntil: later.addingTimeInterval(30)) == .claimed)
        #expect(try await repository.claim(messageID: "m1", queue: "q", now: later, leaseUntil: later.addingTimeInterval(30)) == .inProgress)
        try await repository.complete(messageID: "m1", queue: "q")
        try await repository.release(messageID: "m1", queue: "q")
        let muchLater = now.addingTimeInterval(3600)
        #expect(try await repository.claim(messageID: "m1", queue: "q", now: muchLater, leaseUntil: muchLater) == .completed)
        #expect(try await repository.claim(messageID: "m1", queue: "other", now: now, leaseUntil: lease) == .claimed, "per queue")
        #expect(try await repository.claim(messageID: "m2", queue: "q", now: now, leaseUntil: lease) == .claimed)
        try await repository.release(messageID: "m2", queue: "q")
        #expect(try await repository.claim(messageID: "m2", queue: "q", now: now, leaseUntil: lease) == .claimed, "released")
    }

    /// The transactional outbox: a state change stores its pending event id in the same write; the relay finds it
    /// (oldest first, only changes older than its cut-off) and clears it only if it is still the same event.
    public static func pendingEventsAreStoredWithTheStateChange(_ repository: any PaymentRepository) async throws {
        let claim = self.payment(id: "p1", key: "k", createdAt: Self.date(1_700_000_000_000))
        try await repository.insert(claim)
        try await repository.insert(self.payment(id: "p2", key: "k2", createdAt: Self.date(1_700_000_000_000)))
        var completed = claim
        completed.status = .completed
        completed.transactionID = "TXN-0123456789AB"
        completed.updatedAt = Self.date(1_700_000_001_000)
        completed.pendingEventID = "event-1"
        try await repository.update(completed, expectedStatus: .pending)
        #expect(try await repository.find(paymentID: "p1") == completed)
        #expect(try await repository.withPendingEvents(updatedBefore: Self.date(1_700_000_001_000), limit: 10).isEmpty, "not older than the cut-off")
        #expect(try await repository.withPendingEvents(updatedBefore: Self.date(1_700_000_002_000), limit: 10).map(\.paymentID) == ["p1"])
        try await repository.clearPendingEvent(paymentID: "p1", eventID: "another-event")
        #expect(try await repository.find(paymentID: "p1")?.pendingEventID == "event-1", "only the same event is cleared")
        try await repository.clearPendingEvent(paymentID: "p1", eventID: "event-1")
        #expect(try await repository.find(paymentID: "p1")?.pendingEventID == nil)
        #expect(try await repository.withPendingEvents(updatedBefore: Self.date(1_800_000_000_000), limit: 10).isEmpty)
    }

    public static func deletingAPendingClaimReleasesItsKeys(_ repository: any PaymentRepository) async throws {
        try await repository.insert(self.payment(id: "p1", key: "k"))
        try await repository.insert(self.payment(id: "p2"))
        try await repository.delete(paymentID: "p1", expectedStatus: .pending)
        try await repository.delete(paymentID: "p2", expectedStatus: .pending)
        try await repository.delete(paymentID: "p2", expectedStatus: .pending)
        #expect(try await repository.find(paymentID: "p1") == nil)
        try await repository.insert(self.payment(id: "p3", key: "k"))
        try await repository.insert(self.payment(id: "p4"))

        var completed = self.payment(id: "p5", order: "o5")
        try await repository.insert(completed)
        completed.status = .completed
        try await repository.update(completed, expectedStatus: .pending)
        await #expect(throws: PaymentRepositoryError.statusChanged(current: .completed)) {
            try await repository.delete(paymentID: "p5", expectedStatus: .pending)
        }
        #expect(try await repository.find(paymentID: "p5") == completed)
    }

    public static func listsNewestFirstWithTotals(_ repository: any PaymentRepository) async throws {
        let start: Int64 = 1_700_000_000_000
        for index in 0..<5 {
            try await repository.insert(self.payment(id: "p\(index)", order: "o\(index)", createdAt: self.date(start + Int64(index) * 1000)))
        }
        // Same timestamp as p4: insertion order breaks the tie.
        try await repository.insert(self.payment(id: "p5", order: "o5", createdAt: self.date(start + 4000)))
        try await repository.insert(self.payment(id: "x", order: "o", user: "user-2"))
        let first = try await repository.list(userID: "user-1", offset: 0, limit: 2)
        #expect(first.total == 6)
        #expect(first.payments.map(\.paymentID) == ["p5", "p4"])
        let middle = try await repository.list(userID: "user-1", offset: 2, limit: 2)
        #expect(middle.payments.map(\.paymentID) == ["p3", "p2"])
        #expect(middle.total == 6)
        let last = try await repository.list(userID: "user-1", offset: 4, limit: 10)
        #expect(last.payments.map(\.paymentID) == ["p1", "p0"])
        #expect(last.total == 6)
        #expect(try await repository.list(userID: "user-1", offset: 10, limit: 10) == PaymentPage(payments: [], total: 6))
        #expect(try await repository.list(userID: "user-1", offset: 0, limit: 0) == PaymentPage(payments: [], total: 6))
        #expect(try await repository.list(userID: "user-1", offset: -3, limit: 1).payments.map(\.paymentID) == ["p5"])
        #expect(try await repository.list(userID: "nobody", offset: 0, limit: 10) == PaymentPage(payments: [], total: 0))
        #expect(try await repository.list(userID: "user-2", offset: 0, limit: 10).payments.map(\.paymentID) == ["x"])
    }

    public static func twentyParallelIdenticalClaimsHaveOneWinner(_ repository: any PaymentRepository) async throws {
        // Unkeyed: the unique index on the active fingerprint decides.
        let unkeyed = await self.race(20) { _ async throws(PaymentRepositoryError) in try await repository.insert(Self.payment()) }
        #expect(unkeyed.wins == 1)
        #expect(unkeyed.errors == Array(repeating: .duplicateFingerprint, count: 19))
        // Keyed: the unique index on (user_id, idempotency_key) decides.
        let keyed = await self.race(20) { index async throws(PaymentRepositoryError) in
            try await repository.insert(Self.payment(order: "keyed-\(index)", key: "same-key"))
        }
        #expect(keyed.wins == 1)
        #expect(keyed.errors == Array(repeating: .duplicateIdempotencyKey, count: 19))
        // The same payment id: the unique index on payment_id (the primary key) decides.
        let sameID = await self.race(20) { index async throws(PaymentRepositoryError) in
            try await repository.insert(Self.payment(id: "one-id", order: "id-\(index)"))
        }
        #expect(sameID.wins == 1)
        #expect(sameID.errors == Array(repeating: .duplicatePaymentID, count: 19))
        let stored = try await repository.list(userID: "user-1", offset: 0, limit: 100)
        #expect(stored.total == 3)
    }

    /// On a store that cannot be reached: not healthy, and every operation fails as `unavailable` ("database
    /// unavailable…") within three seconds, bounded by the store's `timeoutSetting` (set to 500 ms by the suite).
    public static func everyOperationIsUnavailableWithinTheTimeout(_ repository: any PaymentRepository, timeoutSetting: String) async throws {
        #expect(await repository.isHealthy() == false)
        let clock = ContinuousClock()
        let operations: [(String, @Sendable () async throws -> Void)] = [
            ("insert", { try await repository.insert(self.payment()) }),
            ("find", { _ = try await repository.find(paymentID: "p1") }),
            ("find key", { _ = try await repository.find(userID: "u", idempotencyKey: "k") }),
            ("find active", { _ = try await repository.findActive(fingerprint: "f") }),
            ("list", { _ = try await repository.list(userID: "u", offset: 0, limit: 10) }),
            ("update", { try await repository.update(self.payment(), expectedStatus: .pending) }),
            ("delete", { try await repository.delete(paymentID: "p1", expectedStatus: .pending) }),
        ]
        for (name, operation) in operations {
            let start = clock.now
            do {
                try await operation()
                Issue.record("\(name) succeeded without a database")
            } catch let error as PaymentRepositoryError {
                guard case .unavailable(let detail) = error else {
                    Issue.record("\(name): expected unavailable, got \(error)")
                    continue
                }
                #expect(detail.hasPrefix("database unavailable"), "\(name): \(detail)")
            }
            // 500 ms each; the margin is for a loaded machine (the drivers' defaults would take 10–30 s).
            #expect(clock.now - start < .seconds(3), "bounded by \(timeoutSetting)")
        }
    }
}
