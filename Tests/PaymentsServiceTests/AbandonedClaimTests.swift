import BookstoreCore
import Foundation
import Logging
import Testing

@testable import PaymentsService

/// A replica that dies between claiming a payment and storing its outcome leaves a `pending` claim behind; a repeated
/// request must not be refused forever because of it.
@Suite struct AbandonedClaimTests {
    let repository = MemoryPaymentRepository()

    func engine(pendingWait: Duration = .milliseconds(300), claimLease: Duration = .seconds(3), processingDelay: Duration = .zero) -> PaymentEngine {
        PaymentEngine.forTests(
            repository: self.repository,
            pendingWait: pendingWait,
            claimLease: claimLease,
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

    /// A charge that takes longer than the lease keeps its claim: the owner renews it, so a repetition waits for the
    /// outcome and replays it instead of charging again.
    @Test func aLiveClaimIsRenewedSoARepetitionWaitsForItsOutcome() async throws {
        let engine = self.engine(pendingWait: .seconds(5), claimLease: .milliseconds(300), processingDelay: .milliseconds(1200))
        async let original = engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        try await Task.sleep(for: .milliseconds(100))
        let repetition = try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        let first = try await original
        #expect(!first.isReplay)
        #expect(first.payment.status == .completed)
        #expect(repetition.isReplay, "the repetition waited for the live claim instead of taking it over")
        #expect(repetition.payment.paymentID == first.payment.paymentID)
        #expect(try await self.repository.list(userID: "user-1", offset: 0, limit: 10).total == 1)
    }

    @Test func concurrentRepetitionsOfAnAbandonedClaimChargeOnce() async throws {
        let stale = try await self.leftBehind(age: 60, key: "key-1")
        let engine = self.engine(pendingWait: .seconds(2))
        let results = try await withThrowingTaskGroup(of: PaymentSubmission.self) { group in
            for _ in 0..<8 { group.addTask { try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(
            results.allSatisfy { $0.payment.paymentID == stale.paymentID && $0.payment.status == .completed },
            "\(results.map { "\($0.payment.paymentID == stale.paymentID ? "same" : "other") \($0.payment.status) replay=\($0.isReplay)" })"
        )
        #expect(results.filter { !$0.isReplay }.count == 1, "one took it over, the others got its outcome")
        #expect(try await self.repository.list(userID: "user-1", offset: 0, limit: 10).total == 1)
    }

    @Test func aClaimIsAbandonedOnceItsLeaseRunsOut() {
        let engine = self.engine(pendingWait: .seconds(10), claimLease: .seconds(3))
        var claim = Payment.pending(for: self.request, idempotencyKey: nil, now: Date(timeIntervalSinceNow: -60))
        #expect(engine.isAbandoned(claim))
        claim.updatedAt = Date(timeIntervalSinceNow: -4)
        #expect(engine.isAbandoned(claim))
        claim.updatedAt = Date(timeIntervalSinceNow: -1)
        #expect(!engine.isAbandoned(claim))
    }
}
