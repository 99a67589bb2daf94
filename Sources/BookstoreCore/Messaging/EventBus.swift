/// The event bus every service talks to: topic exchanges and durable queues (SPEC §6).
///
/// Two implementations run the same consumer code: the in-process bus of the embedded mode and the AMQP bus.
/// Exchanges are topic exchanges whose unroutable messages go to the `unrouted` queue; every queue has a
/// `<queue>.dlq` dead-letter queue.
public protocol EventBus: Sendable {
    /// Declares topic exchanges (idempotent).
    func declareExchanges(_ names: [String]) async throws

    /// Declares a queue, its dead-letter queue and its bindings (idempotent).
    func declareQueue(_ spec: QueueSpec) async throws

    /// Publishes a message; returns once the bus has taken responsibility for it (confirmed).
    func publish(_ message: EventMessage) async throws

    /// Consumes `queue` until the calling task is cancelled. Each delivery is handed to `handler` and settled with
    /// the outcome it returns; at most `prefetch` deliveries are in flight.
    func consume(queue: String, prefetch: Int, handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome) async throws

    /// Whether the bus can currently reach its broker (readiness).
    func isHealthy() async -> Bool
}

/// Names shared by every service (SPEC §6).
public enum Exchanges {
    public static let payment = "payment_exchange"
    public static let review = "review_exchange"
    public static let user = "user_exchange"
    public static let all = [payment, review, user]
    /// The queue fed by every exchange's alternate exchange.
    public static let unroutedQueue = "unrouted"
}
