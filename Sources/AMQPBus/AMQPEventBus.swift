import BookstoreCore
import Logging
import ServiceLifecycle

/// The RabbitMQ event bus (SPEC §6) over rabbitmq-c: the same semantics as `InProcessEventBus`, durably.
///
/// - Topology: topic exchanges with an alternate exchange feeding `unrouted`; durable queues that dead-letter to
///   `<queue>.dlq`; retries through TTL queues `<queue>.retry.<ms>`. Declarations are idempotent and re-made on every
///   new connection.
/// - Publishing: persistent messages with publisher confirms. A message the broker cannot take (down, or no
///   confirm in time) is appended to a durable local outbox and the publish succeeds; the outbox is sent, in order,
///   when the connection is back — also after a restart of the process.
/// - Consuming: one connection per consumer, `basic.qos(prefetch)`, manual acks after the handler; reconnects with
///   backoff after a broker restart (unacknowledged messages are delivered again; `EventConsumer` deduplicates them).
///
/// Constructing the bus does not contact the broker. Its `run()` owns the publisher connection: add the bus to the
/// service group before the services that publish, so it stops after them.
public final class AMQPEventBus: EventBus, Service {
    public let configuration: AMQPConfiguration
    private let serviceName: String
    private let logger: Logger
    private let metrics: ServiceMetrics?
    private let registry = TopologyRegistry()
    private let health = HealthFlag()
    private let losses = ConnectionLossTally()
    private let publisher: ConnectionThread<PublisherSession>

    /// Reads the `RABBITMQ_*` settings (see `AMQPConfiguration.init(settings:serviceName:)`).
    /// - Parameters:
    ///   - metrics: where to count `amqp_reconnects_total`, `amqp_connection_up` and `amqp_outbox_messages`.
    public convenience init(settings: Settings, serviceName: String, logger: Logger, metrics: ServiceMetrics? = nil) throws(ConfigurationError) {
        let configuration = try AMQPConfiguration(settings: settings, serviceName: serviceName)
        self.init(configuration: configuration, serviceName: serviceName, logger: logger, metrics: metrics)
    }

    public init(configuration: AMQPConfiguration, serviceName: String, logger: Logger, metrics: ServiceMetrics? = nil) {
        self.configuration = configuration
        self.serviceName = serviceName
        var busLogger = logger
        busLogger[metadataKey: "messaging.system"] = "rabbitmq"
        self.logger = busLogger
        self.metrics = metrics
        let sessionLogger = busLogger
        let registry = self.registry
        let health = self.health
        let losses = self.losses
        self.publisher = ConnectionThread(name: "amqp-publisher") {
            PublisherSession(
                configuration: configuration,
                appID: serviceName,
                logger: sessionLogger,
                registry: registry,
                health: health,
                instruments: BusInstruments(metrics: metrics, connection: "publisher", losses: losses)
            )
        }
    }

    /// The service that owns the publisher connection (the bus itself).
    public var connectionService: some Service { self }

    /// Connects (and keeps reconnecting) until graceful shutdown, then waits for outstanding confirms (bounded), keeps
    /// what is unconfirmed in the outbox and closes the connection.
    public func run() async throws {
        self.publisher.start()
        try? await gracefulShutdown()
        await self.publisher.stop()
    }

    // MARK: EventBus

    public func declareExchanges(_ names: [String]) async throws {
        self.registry.add(exchanges: names)
        let declarations = Topology.deduplicated(names.filter { !$0.isEmpty }.flatMap(Topology.exchangeDeclarations))
        try await self.publisher.call { session, completion in session.declare(declarations, completion: completion) }
    }

    public func declareQueue(_ spec: QueueSpec) async throws {
        self.registry.add(queue: spec)
        let declarations = Topology.queueDeclarations(spec)
        try await self.publisher.call { session, completion in session.declare(declarations, completion: completion) }
    }

    public func publish(_ message: EventMessage) async throws {
        try await self.publisher.call { session, completion in session.publish(message, completion: completion) }
    }

    public func consume(
        queue: String,
        prefetch: Int,
        handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome
    ) async throws {
        let (deliveries, continuation) = AsyncStream.makeStream(of: Delivery.self)
        let configuration = self.configuration
        let serviceName = self.serviceName
        let logger = self.logger
        let registry = self.registry
        let metrics = self.metrics
        let losses = self.losses
        let thread = ConnectionThread(name: "amqp-consumer") {
            ConsumerSession(
                queue: queue,
                prefetch: prefetch,
                configuration: configuration,
                appID: serviceName,
                logger: logger,
                registry: registry,
                instruments: BusInstruments(metrics: metrics, connection: "consumer", losses: losses),
                deliveries: continuation
            )
        }
        thread.start()
        // At most `prefetch` deliveries are unacknowledged, so at most that many handlers run at once.
        await withDiscardingTaskGroup { group in
            for await delivery in deliveries {
                group.addTask {
                    let outcome = await handler(delivery.message)
                    thread.submit { session in session.settle(delivery, outcome: outcome) }
                }
            }
        }
        await thread.stop()
        continuation.finish()
    }

    /// Whether the publisher connection is up.
    public func isHealthy() async -> Bool {
        self.publisher.start()
        return self.health.isUp
    }

    /// How many times one of this bus's broker connections (the publisher's or a consumer's) was lost after it was up:
    /// the moment a close is noticed, whichever connection notices it first (diagnostics and fault injection).
    public var connectionLosses: Int { self.losses.count }

    /// The messages waiting in the outbox for the broker.
    public func outboxDepth() async -> Int {
        (try? await self.publisher.call { session, completion in completion(.success(session.pendingOutboxMessages())) }) ?? 0
    }
}
