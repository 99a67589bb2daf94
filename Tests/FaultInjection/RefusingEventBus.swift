import BookstoreCore
import Synchronization

/// An in-process bus that refuses publishes while ``refusing`` is set, as the AMQP bus does when its outbox is full or
/// cannot be written: for the tests of what a service does with an event it cannot make durable.
public final class RefusingEventBus: EventBus {
    public let inner = InProcessEventBus()
    public let refusing = Atomic(false)

    public struct OutboxFull: Error {}

    public init() {}

    public func declareExchanges(_ names: [String]) async throws { try await self.inner.declareExchanges(names) }
    public func declareQueue(_ spec: QueueSpec) async throws { try await self.inner.declareQueue(spec) }

    public func publish(_ message: EventMessage) async throws {
        if self.refusing.load(ordering: .relaxed) { throw OutboxFull() }
        try await self.inner.publish(message)
    }

    public func consume(queue: String, prefetch: Int, handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome) async throws {
        try await self.inner.consume(queue: queue, prefetch: prefetch, handler: handler)
    }

    public func isHealthy() async -> Bool { true }
}
