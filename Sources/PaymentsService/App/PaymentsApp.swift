import BookstoreCore
import Logging
import ServiceLifecycle

/// The Python-flavoured payment service (Flask-style API on port 5000, SPEC §4.3).
public enum PaymentsPythonApp {
    public static var defaultServiceName: String { PythonFlavour().defaultServiceName }
    public static var defaultPort: Int { PythonFlavour().defaultPort }

    /// Builds the service from settings and an event bus.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        try await PaymentsAppBuilder.build(flavour: PythonFlavour(), settings: settings, bus: bus, onServerRunning: onServerRunning)
    }
}

/// The Java-flavoured payment service (Spring Boot-style API with actuator endpoints on port 8082, SPEC §4.4).
public enum PaymentsJavaApp {
    public static var defaultServiceName: String { JavaFlavour().defaultServiceName }
    public static var defaultPort: Int { JavaFlavour().defaultPort }

    /// Builds the service from settings and an event bus.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        try await PaymentsAppBuilder.build(flavour: JavaFlavour(), settings: settings, bus: bus, onServerRunning: onServerRunning)
    }
}

/// Assembles either flavour around the shared payment domain.
enum PaymentsAppBuilder {
    static func build<Flavour: PaymentFlavour>(
        flavour: Flavour,
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void
    ) async throws -> BuiltService {
        let scaffold = try await ServiceScaffold(
            settings: settings,
            defaultServiceName: flavour.defaultServiceName,
            defaultPort: flavour.defaultPort,
            renderError: flavour.renderError
        )
        let options = try PaymentsSettings(settings: settings, flavour: flavour)
        let (repository, storageServices) = try self.makeRepository(options, flavour: flavour, settings: settings, logger: scaffold.logger)
        let logger = scaffold.logger
        let publisher = EventPublisher(bus: bus, metrics: scaffold.metrics, logger: logger)
        let engine = PaymentEngine(
            repository: repository,
            processor: SimulatedProcessor(configuration: options.processor),
            breaker: CircuitBreaker(name: "payment-processor", configuration: options.breaker, metrics: scaffold.metrics),
            retry: options.retry,
            events: PaymentEvents(publisher: publisher, flavour: flavour, serviceName: scaffold.common.serviceName),
            metrics: scaffold.metrics,
            logger: logger,
            pendingWait: options.pendingWait,
            claimLease: options.claimLease
        )
        let cards = CardValidator()
        let http = PaymentHTTP(
            engine: engine,
            tokens: scaffold.tokens,
            cards: cards,
            maxBodyBytes: scaffold.common.maxBodyBytes,
            breakerOpenSeconds: Int(options.breaker.openDuration.components.seconds)
        )

        scaffold.readiness.register("database") { await repository.isHealthy() }
        // The broker is ridden out (events wait in the outbox): reported, never a reason to leave rotation.
        scaffold.readiness.register("broker", critical: false) { await bus.isHealthy() }
        try await bus.declareExchanges([Exchanges.payment])

        let router = flavour.makeRouter(scaffold)
        PaymentsController(flavour: flavour, http: http).addRoutes(to: router)

        var services: [any Service] = storageServices
        services.append(PendingEventRelay(engine: engine, interval: options.eventRelayInterval))
        if options.isRequestConsumerEnabled {
            try await bus.declareQueue(PaymentRequestConsumer.responses)
            let consumer = PaymentRequestConsumer(engine: engine, publisher: publisher, cards: cards, policy: EventConsumer.Policy())
            services.append(consumer.makeService(bus: bus, metrics: scaffold.metrics, logger: logger))
        }
        logger.info(
            "Payment service configured",
            metadata: [
                "payment.flavour": .string(flavour.name),
                "payment.storage": .string(options.storage),
                "payment.requests_consumer": .stringConvertible(options.isRequestConsumerEnabled),
            ]
        )
        return BuiltService(
            application: scaffold.makeApplication(router: router, services: services, onServerRunning: onServerRunning),
            scaffold: scaffold
        )
    }

    /// The repository `STORAGE` names, with the services it needs running (a database pool): `memory` for both
    /// flavours, otherwise the flavour's own store (``PaymentFlavour/makeRepository(storage:settings:logger:)``).
    static func makeRepository(
        _ options: PaymentsSettings,
        flavour: some PaymentFlavour,
        settings: Settings,
        logger: Logger
    ) throws(ConfigurationError) -> PaymentStorage {
        if options.storage == "memory" { return (MemoryPaymentRepository(), []) }
        guard let store = try flavour.makeRepository(storage: options.storage, settings: settings, logger: logger) else {
            throw ConfigurationError("STORAGE=\(options.storage) is not available for the \(flavour.name) flavour")
        }
        return store
    }
}
