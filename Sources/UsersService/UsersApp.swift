import BookstoreCore
import BookstorePostgres
import Foundation
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// The user service: registration, login, tokens and user administration (SPEC §4.1).
public enum UsersApp {
    public static let serviceName = "user-service"
    public static let defaultPort = 8081

    /// The users error envelope: `{"message": …, "success": false}`.
    public static let renderError: ErrorRenderer = { error, _ in
        ["message": .string(error.message), "success": false]
    }

    /// Builds the service from settings: `STORAGE` (memory), `BCRYPT_COST` (default 10), `LOGIN_RATE_LIMIT_PER_MINUTE`
    /// and `LOGIN_RATE_LIMIT_BURST` (default 60 and 20) per client (the peer, or behind `TRUSTED_PROXIES` the
    /// `X-Forwarded-For` hop they vouch for), `ADMIN_USERNAME`/`ADMIN_PASSWORD`/`ADMIN_EMAIL` (initial admin).
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
        let storage = try settings.choice("STORAGE", default: "memory", allowed: ["memory", "postgres"])
        let repository: any UserRepository
        var services: [any Service] = []
        if storage == "postgres" {
            let store = PostgresStore(
                settings: try PostgresSettings(settings: settings, defaultDatabase: "userdb"),
                migrations: PostgresUserRepository.migrations,
                logger: scaffold.logger
            )
            services.append(store)
            repository = PostgresUserRepository(store: store, logger: scaffold.logger)
        } else {
            repository = MemoryUserRepository()
        }
        let hasher = PasswordHasher(cost: UInt8(try settings.int("BCRYPT_COST", default: 10, range: 4...16)))
        try await bus.declareExchanges([Exchanges.user])

        scaffold.readiness.register("database") { await repository.isHealthy() }
        // The broker is ridden out (events wait in the outbox): reported, never a reason to leave rotation.
        scaffold.readiness.register("broker", critical: false) { await bus.isHealthy() }
        let router = scaffold.makeRouter()
        router.addHealthRoutes(base: "/api/health", serviceName: serviceName, version: scaffold.common.version, readiness: scaffold.readiness)
        UsersController(
            repository: repository,
            hasher: hasher,
            tokens: scaffold.tokens,
            events: EventPublisher(bus: bus, metrics: scaffold.metrics, logger: scaffold.logger),
            loginLimiter: RateLimiter(
                perMinute: try settings.int("LOGIN_RATE_LIMIT_PER_MINUTE", default: 60, range: 1...1_000_000),
                burst: try settings.int("LOGIN_RATE_LIMIT_BURST", default: 20, range: 1...1_000_000)
            ),
            trustedProxies: scaffold.common.trustedProxies,
            maxBodyBytes: scaffold.common.maxBodyBytes
        ).addRoutes(to: router)
        let adminBootstrap = try AdminBootstrap(settings: settings, repository: repository, hasher: hasher, logger: scaffold.logger)
        if storage == "memory" {
            try await adminBootstrap?.createIfMissing()
        } else if let adminBootstrap {
            services.append(adminBootstrap)
        }
        return BuiltService(
            application: scaffold.makeApplication(router: router, services: services, onServerRunning: onServerRunning),
            scaffold: scaffold
        )
    }
}

/// Creates the initial admin from `ADMIN_USERNAME`/`ADMIN_PASSWORD` when both are set and the user does not exist.
/// With a database it runs as a service that retries until the database answers.
struct AdminBootstrap: Service {
    let username: String
    let password: String
    let email: String
    let repository: any UserRepository
    let hasher: PasswordHasher
    let logger: Logger

    init?(settings: Settings, repository: any UserRepository, hasher: PasswordHasher, logger: Logger) throws(ConfigurationError) {
        guard let username = settings["ADMIN_USERNAME"], let password = settings["ADMIN_PASSWORD"] else { return nil }
        guard password.count >= 6 else { throw ConfigurationError("ADMIN_PASSWORD must be at least 6 characters") }
        self.username = username
        self.password = password
        self.email = settings.string("ADMIN_EMAIL", default: "\(username)@bookstore.local")
        self.repository = repository
        self.hasher = hasher
        self.logger = logger
    }

    func run() async throws {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await self.createIfMissing()
                break
            } catch {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        // A service that returns ends its service group, so stay until the application shuts down.
        try? await gracefulShutdown()
    }

    func createIfMissing() async throws {
        if try await self.repository.find(usernameOrEmail: self.username) != nil { return }
        let admin = User(
            username: self.username,
            email: self.email,
            passwordHash: try await self.hasher.hash(self.password),
            firstName: "Admin",
            lastName: "User",
            emailVerified: true,
            roles: [Identity.userRole, Identity.adminRole]
        )
        do {
            try await self.repository.create(admin)
            self.logger.info("Initial admin created", metadata: ["user.name": .string(self.username)])
        } catch is UserRepositoryError {
            // Created concurrently by another replica.
        }
    }
}
