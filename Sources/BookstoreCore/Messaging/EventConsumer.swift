import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// A failure that retrying cannot fix (a malformed message): it goes straight to the dead-letter queue.
public struct PermanentEventError: Error, Sendable {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }
}

/// Consumes one queue as a long-running service: deduplicates on `message_id`, acknowledges after the handler
/// succeeds, retries failures with increasing delays up to `maxAttempts`, then parks the message in `<queue>.dlq`.
///
/// With a shared ``MessageLedger`` a message is a duplicate only once a handler completed it; a claim is a lease of
/// `Policy.lease`, so a consumer that dies mid-handler (or cannot release its claim) delays the redelivered copy by at
/// most the lease, never drops it. A ledger that cannot be reached counts as a failed attempt: after `maxAttempts` the
/// message is dead-lettered, like any other failure. Retry delays come from the policy's ladder only (one retry queue
/// per step).
/// Counts `messages_consumed_total{queue,outcome}` and `messages_dead_lettered_total{queue}`.
public struct EventConsumer: Service {
    public struct Policy: Sendable {
        public var maxAttempts: Int
        public var baseDelay: Duration
        public var prefetch: Int
        /// How long a ledger claim holds before another copy may take the message over: longer than any handler runs.
        public var lease: Duration

        public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(200), prefetch: Int = 8, lease: Duration = .seconds(30)) {
            self.maxAttempts = max(1, maxAttempts)
            self.baseDelay = baseDelay
            self.prefetch = prefetch
            self.lease = lease
        }

        /// The delay before attempt `attempt + 1`: base × 2^(attempt−1), attempts counted up to `maxAttempts` (so the
        /// delays, and the retry queues behind them, are at most `maxAttempts` values).
        public func delay(afterAttempt attempt: Int) -> Duration {
            self.baseDelay * (1 << min(max(min(attempt, self.maxAttempts) - 1, 0), 16))
        }
    }

    let bus: any EventBus
    let spec: QueueSpec
    let policy: Policy
    let metrics: ServiceMetrics
    let logger: Logger
    let handler: @Sendable (EventMessage) async throws -> Void
    let seen: RecentIDs
    let ledger: (any MessageLedger)?

    public init(
        bus: any EventBus,
        queue spec: QueueSpec,
        policy: Policy = Policy(),
        metrics: ServiceMetrics,
        logger: Logger,
        ledger: (any MessageLedger)? = nil,
        handler: @escaping @Sendable (EventMessage) async throws -> Void
    ) {
        self.ledger = ledger
        self.bus = bus
        self.spec = spec
        self.policy = policy
        self.metrics = metrics
        self.logger = logger
        self.handler = handler
        self.seen = RecentIDs(capacity: 100_000)
    }

    public func run() async throws {
        try await self.bus.declareQueue(self.spec)
        try await cancelWhenGracefulShutdown {
            try await self.bus.consume(queue: self.spec.name, prefetch: self.policy.prefetch) { message in
                await self.process(message)
            }
        }
    }

    /// Handles one delivery and decides its outcome.
    public func process(_ message: EventMessage) async -> DeliveryOutcome {
        // Claim the id before processing, so a redelivery that arrives while the first copy is still being
        // processed is recognised as a duplicate too; the claim is released when processing fails.
        guard self.seen.claim(message.messageID) else {
            self.count("duplicate")
            return .ack
        }
        // Then the shared ledger, when the service has one: a copy that another replica completed is a duplicate too.
        var logger = self.logger
        logger[metadataKey: "request.id"] = message.headers[EventMessage.requestIDHeader].map { .string($0) }
        logger[metadataKey: "messaging.message.id"] = .string(message.messageID)
        if let ledger = self.ledger {
            let now = Date()
            let claim: LedgerClaim
            do {
                claim = try await ledger.claim(
                    messageID: message.messageID,
                    queue: self.spec.name,
                    now: now,
                    leaseUntil: now.addingTimeInterval(Self.seconds(self.policy.lease))
                )
            } catch {
                self.seen.release(message.messageID)
                logger.warning("Message ledger unavailable", metadata: ["error.type": .string(String(describing: type(of: error)))])
                return self.failedAttempt(message, logger: logger)
            }
            switch claim {
            case .claimed: break
            case .completed:
                self.count("duplicate")
                return .ack
            case .inProgress:
                // Another consumer may still complete it; look again later (not a failed attempt: it never dead-letters).
                self.seen.release(message.messageID)
                self.count("in_progress")
                return .retry(after: self.policy.delay(afterAttempt: message.attempt))
            }
        }
        do {
            try await self.handler(message)
        } catch let error as PermanentEventError {
            await self.giveUpClaim(message, logger: logger)
            logger.warning("Message rejected", metadata: ["reason": .string(error.reason)])
            return self.deadLetter(error.reason)
        } catch {
            await self.giveUpClaim(message, logger: logger)
            return self.failedAttempt(message, logger: logger)
        }
        self.count("success")
        do {
            try await self.ledger?.complete(messageID: message.messageID, queue: self.spec.name)
        } catch {
            // The effect is stored; the claim's lease runs out, and a later copy is processed again (the handlers are
            // idempotent on their own keys), so acknowledging loses nothing.
            logger.warning("Could not record the message as processed", metadata: ["error.type": .string(String(describing: type(of: error)))])
        }
        return .ack
    }

    /// A failed attempt: retried with the policy's delay, dead-lettered after `maxAttempts`.
    private func failedAttempt(_ message: EventMessage, logger: Logger) -> DeliveryOutcome {
        if message.attempt >= self.policy.maxAttempts {
            logger.warning("Message failed on every attempt", metadata: ["messaging.attempts": .stringConvertible(message.attempt)])
            return self.deadLetter("failed after \(message.attempt) attempts")
        }
        self.count("retry")
        return .retry(after: self.policy.delay(afterAttempt: message.attempt))
    }

    /// Releases a claim after a failed handler; if the store cannot be reached the lease runs out by itself.
    private func giveUpClaim(_ message: EventMessage, logger: Logger) async {
        self.seen.release(message.messageID)
        do {
            try await self.ledger?.release(messageID: message.messageID, queue: self.spec.name)
        } catch {
            logger.warning(
                "Could not release the message claim; it expires after its lease",
                metadata: ["error.type": .string(String(describing: type(of: error)))]
            )
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private func deadLetter(_ reason: String) -> DeliveryOutcome {
        self.count("dead_lettered")
        self.metrics.counter("messages_dead_lettered_total", labels: [("queue", self.spec.name)], help: "Messages parked in a DLQ")
            .increment()
        return .deadLetter(reason: reason)
    }

    private func count(_ outcome: String) {
        self.metrics.counter(
            "messages_consumed_total",
            labels: [("queue", self.spec.name), ("outcome", outcome)],
            help: "Messages consumed"
        ).increment()
    }
}

/// A bounded set of recently seen ids (oldest forgotten first).
public final class RecentIDs: Sendable {
    private struct Storage {
        var set: Set<String> = []
        var order: [String] = []
        var head = 0
    }

    private let storage = Mutex(Storage())
    private let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public func contains(_ id: String) -> Bool { self.storage.withLock { $0.set.contains(id) } }

    /// Forgets `id` (a claim whose processing failed).
    public func release(_ id: String) {
        self.storage.withLock { _ = $0.set.remove(id) }
    }

    /// Records `id`; returns false when it was already there.
    @discardableResult
    public func claim(_ id: String) -> Bool {
        self.storage.withLock { storage in
            guard storage.set.insert(id).inserted else { return false }
            storage.order.append(id)
            if storage.order.count - storage.head > self.capacity {
                storage.set.remove(storage.order[storage.head])
                storage.head += 1
                if storage.head > self.capacity {
                    storage.order.removeFirst(storage.head)
                    storage.head = 0
                }
            }
            return true
        }
    }
}
