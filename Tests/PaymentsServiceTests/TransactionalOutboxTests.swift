import BookstoreCore
import FaultInjection
import Foundation
import Logging
import Synchronization
import Testing

@testable import PaymentsService

/// The transactional outbox of payments: a payment's event is stored with the state change it announces, and sent
/// from there. Before, the status was committed first and the event published after: a replica dying between the two,
/// or a bus refusing the event, left a completed payment whose `payment.completed` never existed, and the client's
/// retry got a replay that published nothing.
@Suite struct TransactionalOutboxTests {
    let repository = MemoryPaymentRepository()
    let bus = RefusingEventBus()
    static let queue = QueueSpec(name: "observer", bindings: [.init(exchange: Exchanges.payment, pattern: "payment.#")])

    func engine() async throws -> PaymentEngine {
        try await self.bus.inner.declareExchanges([Exchanges.payment])
        try await self.bus.inner.declareQueue(Self.queue)
        return PaymentEngine.forTests(repository: self.repository, bus: self.bus)
    }

    let request = PaymentRequest(orderID: "order-1", userID: "user-1", amount: Money(cents: 1990), currency: .usd, method: .creditCard, bookID: "b-1")

    var published: [EventMessage] { self.bus.inner.pendingMessages(in: Self.queue.name) }

    @Test func anEventTheBusRefusesIsStoredWithThePaymentAndRelayedLater() async throws {
        let engine = try await self.engine()
        self.bus.refusing.store(true, ordering: .relaxed)
        let submission = try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        #expect(submission.payment.status == .completed, "the charge happened; the request succeeds")
        let stored = try #require(try await self.repository.find(paymentID: submission.payment.paymentID))
        let eventID = try #require(stored.pendingEventID, "the event is stored with the payment")
        #expect(self.published.isEmpty)
        #expect(await engine.relayPendingEvents(grace: .zero) == 0, "still refused: still pending")

        self.bus.refusing.store(false, ordering: .relaxed)
        #expect(await engine.relayPendingEvents(grace: .seconds(60)) == 0, "changed within the grace: left to its request")
        #expect(await engine.relayPendingEvents(grace: .zero) == 1)
        #expect(self.published.map(\.routingKey) == ["payment.completed"])
        #expect(self.published.first?.messageID == eventID)
        #expect(try await self.repository.find(paymentID: stored.paymentID)?.pendingEventID == nil)
        #expect(await engine.relayPendingEvents(grace: .zero) == 0, "sent once")
    }

    /// The replica died after storing the outcome and before publishing: the client's retry gets the replay and the
    /// event goes out with it.
    @Test func aReplayPublishesAnEventThatNeverReachedTheBus() async throws {
        let engine = try await self.engine()
        // Stored 5 s ago (longer than the engine's pendingWait, 1 s): no request is still delivering it.
        var completed = Payment.pending(for: self.request, idempotencyKey: "key-1", now: Date(timeIntervalSinceNow: -5))
        completed.status = .completed
        completed.transactionID = "TXN-0123456789AB"
        completed.message = "Payment processed successfully"
        completed.pendingEventID = "event-1"
        try await self.repository.insert(completed)
        let replay = try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        #expect(replay.isReplay)
        #expect(self.published.map(\.messageID) == ["event-1"])
        #expect(try await self.repository.find(paymentID: completed.paymentID)?.pendingEventID == nil)
        _ = try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil)
        #expect(self.published.count == 1, "a confirmed event is not sent again")
    }

    /// Concurrent repetitions of a request that just completed do not each re-send its event while the request that
    /// made the change is still sending it.
    @Test func aReplayLeavesAFreshEventToTheRequestThatMadeIt() async throws {
        let engine = try await self.engine()
        var completed = Payment.pending(for: self.request, idempotencyKey: "key-1", now: currentMillisecondDate())
        completed.status = .completed
        completed.transactionID = "TXN-0123456789AB"
        completed.pendingEventID = "event-1"
        try await self.repository.insert(completed)
        #expect(try await engine.submit(self.request, idempotencyKey: "key-1", requestID: nil).isReplay)
        #expect(self.published.isEmpty)
        #expect(try await self.repository.find(paymentID: completed.paymentID)?.pendingEventID == "event-1", "left to its request or the relay")
    }

    @Test func aRefundsEventIsStoredWithTheRefund() async throws {
        let engine = try await self.engine()
        let payment = try await engine.submit(self.request, idempotencyKey: nil, requestID: nil).payment
        self.bus.refusing.store(true, ordering: .relaxed)
        let refunded = try await engine.refund(payment, requestID: nil)
        #expect(refunded.status == .refunded)
        let stored = try #require(try await self.repository.find(paymentID: payment.paymentID))
        #expect(stored.status == .refunded && stored.pendingEventID != nil)
        self.bus.refusing.store(false, ordering: .relaxed)
        #expect(await engine.relayPendingEvents(grace: .zero) == 1)
        #expect(self.published.map(\.routingKey) == ["payment.completed", "payment.refunded"])
    }
}
