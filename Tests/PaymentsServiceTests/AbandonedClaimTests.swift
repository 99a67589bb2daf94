import BookstoreCore
import Foundation
import Logging
import Testing

@testable import PaymentsService

/// A replica that dies between claiming a payment and storing its outcome leaves a `pending` claim behind; a repeated
/// request must not be refused forever because of it.
@Suite struct AbandonedClaimTests {
    let repository = MemoryPaymentRepository()

    func engine(
        pendingWait: Duration = .milliseconds(300),
        claimLease: Duration = .seconds(3),
        renewalInterval: Duration? = nil,
        processingDelay: Duration = .zero
    ) -> PaymentEngine {
        PaymentEngine.forTests(
            repository: self.repository,
            pendingWait: pendingWait,
            claimLease: claimLease,
            renewalInterval: renewalInterval,
            processingDelay: processingDelay,
            pollInterval: .milliseconds(5)
        )
    }

    let request = PaymentRequest(orderID: "order-1", userID: "user-1", amount: Money(cents: 1990), currency: .usd, method: .creditCard, bookID: "b-1")

    /// A claim stored `age` ago by a replica that never came back.
    func leftBehind(age: TimeInterval, key: String?) async throws -> Payment {
        let claim = Payment.pending(for: self.request, idempotencyKey: key, now: Date(timeIntervalSinceNow: -age))
        try await self.repository.insert(claim)
        return claim
    }

    @Test(arguments: ["key-1", nil] as [String?])
    func aRepetitionTakesAnAbandonedClaimOverWithTheSamePaymentID(key: String?) async throws {
        let stale = try await self.leftBehind(age: 60, key: key)
        let submission = try await self.engine().submit(self.request, idempotencyKey: key, requestID: nil)
        #expect(submission.payment.paymentID == stale.paymentID)
        #expect(submission.payment.status == .completed)
        #expect(!submission.isReplay)
        let stored = try await self.repository.find(paymentID: stale.paymentID)
        #expect(stored?.status == .completed)
        #expect(try await self.repository.list(userID: "user-1", offset: 0, limit: 10).total == 1, "no second payment")
    }

    @Test func aClaimYoungerThanItsLeaseIsWaitedForThenInProgress() async throws {
        // Waited for 2 s; its lease runs 10 s: a loaded machine may stall the test for a while without turning the
        // claim into an abandoned one.
        _ = try await self.leftBehind(age: 0, key: "key-1")
        let start = ContinuousClock.now
        await #expect(throws: PaymentEngineError.inProgress) {
            _ = try await self.engine(pendingWait: .seconds(2), claimLease: .seconds(10)).submit(
                self.request,
                idempotencyKey: "key-1",
                requestID: nil
            )
        }
        #expect(ContinuousClock.now - start >= .milliseconds(1900))
    }

    /// The chaos run's `kill-payments-java`: the replica holding a fresh claim is killed and the gateway sends the
    /// request again at once. The repetition must not answer 409 "in progress" for a claim nobody holds: it takes it
    /// over as soon as its lease runs out, well within its wait.
    @Test func aRepetitionTakesAFreshClaimOverOnceItsLeaseRunsOut() async throws {
        let stale = try await self.leftBehind(age: 0, key: "key-1")
        let start = ContinuousClock.now
        let submission = try await self.engine(pendingWait: .seconds(5), claimLease: .milliseconds(400))
            .submit(self.request, idempotencyKey: "key-1", requestID: nil)
        let waited = ContinuousClock.now - start
        #expect(submission.payment.paymentID == stale.paymentID)
        #expect(submission.payment.status == .completed)
        #expect(!submission.isReplay)
        #expect(waited >= .milliseconds(350), "not before the lease ran out: \(waited)")
        #expect(waited < .seconds(4), "taken over, not answered after the whole wait: \(waited)")
    }

    /// A charge that takes longer than the lease keeps its claim: its owner renews it (so a repetition finds it live
    /// and waits for its outcome), and stops renewing once the outcome is stored.
    @Test func theOwnerRenewsItsClaimWhileCharging() async throws {
        let engine = self.engine(pendingWait: .seconds(8), claimLease: .milliseconds(300), processingDelay: .seconds(2))
        async let original = engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        // Waits for a renewal (every 100 ms) rather than asserting its timing: a loaded machine may delay it.
        var renewed: Payment?
        let deadline = ContinuousClock.now + .seconds(10)
        while renewed == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            if let claim = try await self.repository.find(userID: "user-1", idempotencyKey: "key-1"), claim.status == .pending,
                claim.updatedAt > claim.createdAt
            {
                renewed = claim
            }
        }
        #expect(renewed != nil, "the pending claim was renewed while its charge ran")
        let first = try await original
        #expect(first.payment.status == .completed && !first.isReplay)
        let stored = try #require(try await self.repository.find(paymentID: first.payment.paymentID))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await self.repository.find(paymentID: first.payment.paymentID) == stored, "no renewal after the outcome")
        #expect(try await self.repository.list(userID: "user-1", offset: 0, limit: 10).total == 1)
    }

    /// When an owner's renewals stall past its lease, a repetition takes the claim over; whichever stores its outcome
    /// second gets the first one's outcome (same payment id) rather than an error.
    @Test func anOwnerWhoseClaimWasTakenOverReturnsTheStoredOutcome() async throws {
        // A 100 ms lease whose owner stalls (renews only after 60 s) while charging for 600 ms: the repetition takes
        // it over after 100 ms, and the owner stores its outcome first.
        let engine = self.engine(
            pendingWait: .seconds(5),
            claimLease: .milliseconds(100),
            renewalInterval: .seconds(60),
            processingDelay: .milliseconds(600)
        )
        async let original = engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        try await Task.sleep(for: .milliseconds(50))
        let repetition = try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        let first = try await original
        #expect(first.payment.paymentID == repetition.payment.paymentID)
        #expect(first.payment.status == .completed && repetition.payment.status == .completed)
        #expect(try await self.repository.list(userID: "user-1", offset: 0, limit: 10).total == 1)
    }
}
