import BookstoreCore
import BookstoreMongo
import Hummingbird
import JSONKit
import ServiceLifecycle

/// The review service: reviews of books, their statistics, and verified purchases learnt from payment events
/// (SPEC §4.5).
public enum ReviewsApp {
    /// The canonical service name, reported by the health endpoint and in event payloads.
    public static let serviceName = "review-service"
    public static let defaultPort = 5002

    /// The reviews error envelope: every 400 (field validation, malformed JSON, a missing body, a bad page) is
    /// `{"errors": [message, …]}` listing each problem; every other status is `{"error": message}`.
    public static let renderError: ErrorRenderer = { error, _ in
        guard error.status == .badRequest else { return ["error": .string(error.message)] }
        let messages = error.fieldErrors.isEmpty ? [error.message] : error.fieldErrors.map(\.message)
        return ["errors": .array(messages.map(JSON.string))]
    }

    /// Builds the service from settings: the common ones (`PORT`, `JWT_SECRET`, …) and `STORAGE`: `memory` (default) or
    /// `mongodb` (`review_db.reviews` and `review_db.purchases`; `MONGO_URI`, `MONGO_DB`, … as ``MongoSettings`` reads them).
    ///
    /// Declares the exchanges and the consumer queues `review_payment_events` (`payment.completed`,
    /// `payment.refunded` on `payment_exchange`) and `review_user_events` (`user.deleted` on `user_exchange`),
    /// whose consumers run as services of the application.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        let scaffold = try await ServiceScaffold(
            settings: settings,
            defaultServiceName: serviceName,
            defaultPort: defaultPort,
            renderError: renderError
        )
        let storage = try settings.choice("STORAGE", default: "memory", allowed: ["memory", "mongodb"])
        let reviews: any ReviewRepository
        let purchases: any PurchaseRepository
        let databaseIsHealthy: @Sendable () async -> Bool
        var services: [any Service] = []
        if storage == "mongodb" {
            let mongoSettings: MongoSettings
            do {
                mongoSettings = try MongoSettings(settings: settings, defaultDatabase: "review_db")
            } catch {
                throw ConfigurationError("STORAGE=mongodb: \(error.description)")
            }
            let store = try MongoStore(
                settings: mongoSettings,
                indexes: MongoReviewRepository.indexes + MongoPurchaseRepository.indexes,
                logger: scaffold.logger
            )
            // First in the list: it starts before the consumers and stops after them.
            services.append(store)
            reviews = MongoReviewRepository(store: store)
            purchases = MongoPurchaseRepository(store: store)
            databaseIsHealthy = { await store.isHealthy() }
        } else {
            let memoryReviews = MemoryReviewRepository()
            let memoryPurchases = MemoryPurchaseRepository()
            reviews = memoryReviews
            purchases = memoryPurchases
            databaseIsHealthy = {
                let reviewsUp = await memoryReviews.isHealthy()
                let purchasesUp = await memoryPurchases.isHealthy()
                return reviewsUp && purchasesUp
            }
        }
        let events = ReviewEvents(publisher: EventPublisher(bus: bus, metrics: scaffold.metrics, logger: scaffold.logger))
        let handlers = ReviewEventHandlers(reviews: reviews, purchases: purchases, events: events, logger: scaffold.logger)

        try await bus.declareExchanges(Exchanges.all)
        // Declared here as well as by the consumers, so events published before a consumer starts are queued.
        try await bus.declareQueue(ReviewEventHandlers.paymentQueue)
        try await bus.declareQueue(ReviewEventHandlers.userQueue)
        services += [
            EventConsumer(bus: bus, queue: ReviewEventHandlers.paymentQueue, metrics: scaffold.metrics, logger: scaffold.logger) { message in
                try await handlers.handlePayment(message)
            },
            EventConsumer(bus: bus, queue: ReviewEventHandlers.userQueue, metrics: scaffold.metrics, logger: scaffold.logger) { message in
                try await handlers.handleUser(message)
            },
        ]

        scaffold.readiness.register("database", check: databaseIsHealthy)
        // The broker is ridden out (events wait in the outbox): reported, never a reason to leave rotation.
        scaffold.readiness.register("broker", critical: false) { await bus.isHealthy() }
        let router = scaffold.makeRouter()
        router.addHealthRoutes(base: "/api/health", serviceName: serviceName, version: scaffold.common.version, readiness: scaffold.readiness)
        ReviewsController(
            reviews: reviews,
            purchases: purchases,
            tokens: scaffold.tokens,
            events: events,
            maxBodyBytes: scaffold.common.maxBodyBytes
        ).addRoutes(to: router)
        return BuiltService(
            application: scaffold.makeApplication(router: router, services: services, onServerRunning: onServerRunning),
            scaffold: scaffold
        )
    }
}
