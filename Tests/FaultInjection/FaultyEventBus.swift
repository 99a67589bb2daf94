import BookstoreCore

/// A bus wrapped with a messaging defect: what a service publishes goes through `publish` (rewritten, rerouted or
/// dropped: nil), and what it consumes through `deliver`, which gets each delivery and the service's own handler.
/// Everything else is the wrapped bus's.
public struct FaultyEventBus: EventBus {
    public typealias Handler = @Sendable (EventMessage) async -> DeliveryOutcome

    let base: any EventBus
    let publish: @Sendable (EventMessage) -> EventMessage?
    let deliver: @Sendable (EventMessage, Handler) async -> DeliveryOutcome

    public init(
        _ base: any EventBus,
        publish: @escaping @Sendable (EventMessage) -> EventMessage? = { $0 },
        deliver: @escaping @Sendable (EventMessage, Handler) async -> DeliveryOutcome = { await $1($0) }
    ) {
        self.base = base
        self.publish = publish
        self.deliver = deliver
    }

    public func declareExchanges(_ names: [String]) async throws { try await self.base.declareExchanges(names) }
    public func declareQueue(_ spec: QueueSpec) async throws { try await self.base.declareQueue(spec) }

    public func publish(_ message: EventMessage) async throws {
        // A dropped event is "published" as far as the service can tell: that is the defect.
        guard let message = self.publish(message) else { return }
        try await self.base.publish(message)
    }

    public func consume(queue: String, prefetch: Int, handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome) async throws {
        let deliver = self.deliver
        try await self.base.consume(queue: queue, prefetch: prefetch) { message in await deliver(message, handler) }
    }

    public func isHealthy() async -> Bool { await self.base.isHealthy() }
}
