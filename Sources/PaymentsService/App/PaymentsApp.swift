import BookstoreCore
import BookstoreMongo
import BookstorePostgres
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// The Python-flavoured payment service (Flask-style API on port 5000, SPEC §4.3).
public enum PaymentsPythonApp {
    public static let defaultServiceName = "payment-service-python"
    public static let defaultPort = 5000

    /// Builds the service from settings and an event bus.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        try await PaymentsAppBuilder.build(flavour: .python, settings: settings, bus: bus, onServerRunning: onServerRunning)
    }
}

/// The Java-flavoured payment service (Spring Boot-style API with actuator endpoints on port 8082, SPEC §4.4).
public enum PaymentsJavaApp {
    public static let defaultServiceName = "payment-service-java"
    public static let defaultPort = 8082

    /// Builds the service from settings and an event bus.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        try await PaymentsAppBuilder.build(flavour: .java, settings: settings, bus: bus, onServerRunning: onServerRunning)
    }
}

/// Assembles either flavour around the shared payment domain.
enum PaymentsAppBuilder {
    static func build(
        flavour: PaymentFlavour,
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void
    ) async throws -> BuiltService {
        let scaffold = try await ServiceScaffold(
            settings: settings,
            defaultServiceName: flavour == .python ? PaymentsPythonApp.defaultServiceName : PaymentsJavaApp.defaultServiceName,
            defaultPort: flavour == .python ? PaymentsPythonApp.defaultPort : PaymentsJavaApp.defaultPort,
            renderError: flavour == .python ? PythonFormat.renderError : JavaFormat.renderError
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
            pendingWait: options.pendingWait
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

        let router: ServiceRouter
        switch flavour {
        case .python:
            router = scaffold.makeRouter()
            router.addHealthRoutes(
                base: "/api/health",
                serviceName: scaffold.common.serviceName,
                version: scaffold.common.version,
                readiness: scaffold.readiness
            )
            PythonPaymentsController(http: http).addRoutes(to: router)
        case .java:
            router = scaffold.makeRouter(extraMetricsPaths: ["/actuator/prometheus"])
            router.addActuatorHealthRoutes(readiness: scaffold.readiness)
            let info: JSON = ["app": ["name": .string(scaffold.common.serviceName), "version": .string(scaffold.common.version)]]
            router.get("/actuator/info") { _, _ in Response.json(info) }
            JavaPaymentsController(http: http).addRoutes(to: router)
        }

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
                "payment.flavour": .string(flavour.rawValue),
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
    /// flavours; `postgres` (or `postgresql`) for the Java flavour, database `payment_db` unless `POSTGRES_DB` says;
    /// `mongodb` (or `mongo`) for the Python flavour, `payment_db.payments` unless `MONGO_DB` says.
    static func makeRepository(
        _ options: PaymentsSettings,
        flavour: PaymentFlavour,
        settings: Settings,
        logger: Logger
    ) throws(ConfigurationError) -> (repository: any PaymentRepository, services: [any Service]) {
        switch (options.storage, flavour) {
        case ("memory", _):
            return (MemoryPaymentRepository(), [])
        case ("postgres", .java), ("postgresql", .java):
            let store = PostgresStore(
                settings: try PostgresSettings(settings: settings, defaultDatabase: "payment_db"),
                migrations: PostgresPaymentRepository.migrations,
                logger: logger
            )
            return (PostgresPaymentRepository(store: store, logger: logger), [store])
        case ("mongodb", .python), ("mongo", .python):
            let mongoSettings: MongoSettings
            do {
                mongoSettings = try MongoSettings(settings: settings, defaultDatabase: "payment_db")
            } catch {
                throw ConfigurationError("STORAGE=\(options.storage): \(error.description)")
            }
            let store = try MongoStore(settings: mongoSettings, indexes: MongoPaymentRepository.indexes, logger: logger)
            return (MongoPaymentRepository(store: store), [store])
        default:
            throw ConfigurationError("STORAGE=\(options.storage) is not available for the \(flavour.rawValue) flavour")
        }
    }
}
