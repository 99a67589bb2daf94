import BookstoreCore
import Foundation
import Hummingbird
import JSONKit
import Logging

/// The user service: registration, login, tokens and user administration (SPEC §4.1).
public enum UsersApp {
    public static let serviceName = "user-service"
    public static let defaultPort = 8081

    /// The users error envelope: `{"message": …, "success": false}`.
    public static let renderError: ErrorRenderer = { error, _ in
        ["message": .string(error.message), "success": false]
    }

    /// Builds the service from settings: `STORAGE` (memory), `BCRYPT_COST` (default 10), `LOGIN_RATE_LIMIT_PER_MINUTE`
    /// and `LOGIN_RATE_LIMIT_BURST` (default 60 and 20), `ADMIN_USERNAME`/`ADMIN_PASSWORD`/`ADMIN_EMAIL` (initial admin).
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
        guard storage == "memory" else {
            throw ConfigurationError("STORAGE=\(storage) is not available in this build of \(serviceName); use STORAGE=memory")
        }
        let repository = MemoryUserRepository()
        let hasher = PasswordHasher(cost: UInt8(try settings.int("BCRYPT_COST", default: 10, range: 4...16)))
        try await bus.declareExchanges([Exchanges.user])
        try await bootstrapAdmin(settings: settings, repository: repository, hasher: hasher, logger: scaffold.logger)

        scaffold.readiness.register("database") { await repository.isHealthy() }
        scaffold.readiness.register("broker") { await bus.isHealthy() }
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
            maxBodyBytes: scaffold.common.maxBodyBytes
        ).addRoutes(to: router)
        return BuiltService(application: scaffold.makeApplication(router: router, onServerRunning: onServerRunning), scaffold: scaffold)
    }

    /// Creates the initial admin from `ADMIN_USERNAME`/`ADMIN_PASSWORD` when both are set and the user does not exist.
    static func bootstrapAdmin(settings: Settings, repository: any UserRepository, hasher: PasswordHasher, logger: Logger) async throws {
        guard let username = settings["ADMIN_USERNAME"], let password = settings["ADMIN_PASSWORD"] else { return }
        guard password.count >= 6 else { throw ConfigurationError("ADMIN_PASSWORD must be at least 6 characters") }
        if try await repository.find(usernameOrEmail: username) != nil { return }
        let admin = User(
            username: username,
            email: settings.string("ADMIN_EMAIL", default: "\(username)@bookstore.local"),
            passwordHash: try await hasher.hash(password),
            firstName: "Admin",
            lastName: "User",
            emailVerified: true,
            roles: [Identity.userRole, Identity.adminRole]
        )
        do {
            try await repository.create(admin)
            logger.info("Initial admin created", metadata: ["user.name": .string(username)])
        } catch is UserRepositoryError {
            // Created concurrently by another replica.
        }
    }
}
