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
/// Counts `messages_consumed_total{queue,outcome}` and `messages_dead_lettered_total{queue}`.
public struct EventConsumer: Service {
    public struct Policy: Sendable {
        public var maxAttempts: Int
        public var baseDelay: Duration
        public var prefetch: Int

        public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(200), prefetch: Int = 8) {
            self.maxAttempts = maxAttempts
            self.baseDelay = baseDelay
            self.prefetch = prefetch
        }

        /// The delay before attempt `attempt + 1`: base × 2^(attempt−1).
        public func delay(afterAttempt attempt: Int) -> Duration {
            self.baseDelay * (1 << min(max(attempt - 1, 0), 16))
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
        // Then the shared ledger, when the service has one: a copy that reached another replica is a duplicate too.
        if let ledger = self.ledger {
            do {
                guard try await ledger.claim(messageID: message.messageID, queue: self.spec.name) else {
                    self.count("duplicate")
                    return .ack
                }
            } catch {
                self.seen.release(message.messageID)
                self.count("retry")
                return .retry(after: self.policy.delay(afterAttempt: message.attempt))
            }
        }
        var logger = self.logger
        logger[metadataKey: "request.id"] = message.headers[EventMessage.requestIDHeader].map { .string($0) }
        logger[metadataKey: "messaging.message.id"] = .string(message.messageID)
        do {
            try await self.handler(message)
            self.count("success")
            return .ack
        } catch let error as PermanentEventError {
            self.seen.release(message.messageID)
            try? await self.ledger?.release(messageID: message.messageID, queue: self.spec.name)
            logger.warning("Message rejected", metadata: ["reason": .string(error.reason)])
            return self.deadLetter(error.reason)
        } catch {
            self.seen.release(message.messageID)
            try? await self.ledger?.release(messageID: message.messageID, queue: self.spec.name)
            if message.attempt >= self.policy.maxAttempts {
                logger.warning("Message failed on every attempt", metadata: ["messaging.attempts": .stringConvertible(message.attempt)])
                return self.deadLetter("failed after \(message.attempt) attempts")
            }
            self.count("retry")
            return .retry(after: self.policy.delay(afterAttempt: message.attempt))
        }
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
