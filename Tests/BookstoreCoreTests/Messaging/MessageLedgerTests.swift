import BookstoreCore
import Foundation
import Logging
import Synchronization
import Testing

/// The consumer's shared dedupe ledger: a message is a duplicate only once a handler completed it, and a ledger that
/// cannot be reached is a failed attempt like any other.
@Suite struct MessageLedgerTests {
    /// A ledger whose operations can be made to fail, as a database that went away does.
    final class FlakyLedger: MessageLedger {
        let inner = MemoryMessageLedger()
        let claimsFail = Atomic(false)
        let releasesFail = Atomic(false)

        struct Down: Error {}

        func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim {
            if self.claimsFail.load(ordering: .relaxed) { throw Down() }
            return try await self.inner.claim(messageID: messageID, queue: queue, now: now, leaseUntil: leaseUntil)
        }

        func complete(messageID: String, queue: String) async throws {
            try await self.inner.complete(messageID: messageID, queue: queue)
        }

        func release(messageID: String, queue: String) async throws {
            if self.releasesFail.load(ordering: .relaxed) { throw Down() }
            try await self.inner.release(messageID: messageID, queue: queue)
        }
    }

    struct HandlerFailed: Error {}

    /// What a handler saw: how often it ran, and whether it fails.
    final class Handler: Sendable {
        let calls = Atomic(0)
        let failing = Atomic(false)

        var count: Int { self.calls.load(ordering: .relaxed) }
    }

    static let queue = QueueSpec(name: "work", bindings: [])

    /// A consumer (one replica) on the shared `ledger` whose handler counts its calls and fails while `failing` is set.
    static func consumer(
        _ ledger: any MessageLedger,
        handler: Handler = Handler(),
        lease: Duration = .milliseconds(200)
    ) -> (EventConsumer, ServiceMetrics) {
        let metrics = ServiceMetrics(service: "test")
        let consumer = EventConsumer(
            bus: InProcessEventBus(),
            queue: Self.queue,
            policy: .init(maxAttempts: 3, baseDelay: .milliseconds(5), lease: lease),
            metrics: metrics,
            logger: Logger(label: "test"),
            ledger: ledger
        ) { _ in
            handler.calls.add(1, ordering: .relaxed)
            if handler.failing.load(ordering: .relaxed) { throw HandlerFailed() }
        }
        return (consumer, metrics)
    }

    static func message(attempt: Int = 1) -> EventMessage {
        var message = EventMessage(exchange: "ex", routingKey: "job.x", body: Array("x".utf8), messageID: "m-1")
        message.attempt = attempt
        return message
    }

    /// A handler failure whose release also fails (the database is down) used to leave the id recorded for ever: the
    /// redelivered copy was acknowledged as a duplicate and never processed.
    @Test func aFailedHandlerWhoseReleaseFailsIsProcessedOnceTheLeaseRunsOut() async throws {
        let ledger = FlakyLedger()
        let handler = Handler()
        handler.failing.store(true, ordering: .relaxed)
        let (first, _) = Self.consumer(ledger, handler: handler)
        ledger.releasesFail.store(true, ordering: .relaxed)
        #expect(await first.process(Self.message()) == DeliveryOutcome.retry(after: .milliseconds(5)))
        handler.failing.store(false, ordering: .relaxed)
        // The redelivery reaches another replica while the lease holds: looked at again later, not acknowledged.
        let (second, metrics) = Self.consumer(ledger, handler: handler)
        let early = await second.process(Self.message(attempt: 2))
        #expect(early != DeliveryOutcome.ack, "a claim whose handler failed is not a processed message")
        try await Task.sleep(for: .milliseconds(250))
        #expect(await second.process(Self.message(attempt: 3)) == DeliveryOutcome.ack)
        #expect(handler.count == 2, "processed again after the lease")
        #expect(try await ledger.claim(messageID: "m-1", queue: "work", now: Date(), leaseUntil: Date()) == .completed)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"outcome="success"} 1"#))
    }

    /// A replica that died mid-handler (claimed, never completed, never released): the redelivery is not a duplicate.
    @Test func aConsumerThatDiedMidHandlerDelaysTheRedeliveryByAtMostTheLease() async throws {
        let ledger = MemoryMessageLedger()
        let now = Date()
        #expect(try await ledger.claim(messageID: "m-1", queue: "work", now: now, leaseUntil: now.addingTimeInterval(0.2)) == .claimed)
        let handler = Handler()
        let (survivor, _) = Self.consumer(ledger, handler: handler)
        let outcome = await survivor.process(Self.message(attempt: 3))
        #expect(outcome == DeliveryOutcome.retry(after: .milliseconds(20)), "in progress elsewhere: looked at later, never dead-lettered")
        #expect(handler.count == 0)
        try await Task.sleep(for: .milliseconds(250))
        #expect(await survivor.process(Self.message(attempt: 4)) == DeliveryOutcome.ack)
        #expect(handler.count == 1)
        // A later copy of the completed message is a duplicate.
        let (other, metrics) = Self.consumer(ledger, handler: handler)
        #expect(await other.process(Self.message()) == DeliveryOutcome.ack)
        #expect(handler.count == 1)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"outcome="duplicate"} 1"#))
    }

    /// An unreachable ledger used to retry for ever, each time with a longer delay (a new retry queue per delay).
    @Test func anUnreachableLedgerIsAFailedAttemptAndDeadLettersAfterMaxAttempts() async throws {
        let ledger = FlakyLedger()
        ledger.claimsFail.store(true, ordering: .relaxed)
        let handler = Handler()
        let (consumer, metrics) = Self.consumer(ledger, handler: handler)
        #expect(await consumer.process(Self.message(attempt: 1)) == DeliveryOutcome.retry(after: .milliseconds(5)))
        #expect(await consumer.process(Self.message(attempt: 2)) == DeliveryOutcome.retry(after: .milliseconds(10)))
        guard case .deadLetter = await consumer.process(Self.message(attempt: 3)) else {
            Issue.record("the third failed attempt must dead-letter")
            return
        }
        #expect(handler.count == 0)
        #expect(String(decoding: metrics.render(), as: UTF8.self).contains(#"messages_dead_lettered_total{service="test",queue="work"} 1"#))
    }

    @Test func retryDelaysStopGrowingAtMaxAttempts() {
        let policy = EventConsumer.Policy(maxAttempts: 4, baseDelay: .milliseconds(100))
        #expect(
            (1...4).map { policy.delay(afterAttempt: $0) } == [
                Duration.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
            ]
        )
        #expect(policy.delay(afterAttempt: 50) == Duration.milliseconds(800))
    }

    @Test func theMemoryLedgerHasOneWinnerAndKeepsCompletedMessages() async throws {
        let ledger = MemoryMessageLedger()
        let now = Date()
        let lease = now.addingTimeInterval(30)
        let outcomes = await withTaskGroup(of: LedgerClaim.self) { group in
            for _ in 0..<20 { group.addTask { (try? await ledger.claim(messageID: "m", queue: "q", now: now, leaseUntil: lease)) ?? .inProgress } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .claimed }.count == 1)
        #expect(outcomes.filter { $0 == .inProgress }.count == 19)
        #expect(try await ledger.claim(messageID: "m", queue: "other", now: now, leaseUntil: lease) == .claimed, "per queue")
        try await ledger.complete(messageID: "m", queue: "q")
        try await ledger.release(messageID: "m", queue: "q")
        #expect(try await ledger.claim(messageID: "m", queue: "q", now: now.addingTimeInterval(60), leaseUntil: lease) == .completed)
    }
}
