import BookstoreCore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One schema migration: statements run in a transaction, recorded in `schema_migrations`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// A pooled PostgreSQL database that creates itself and runs its migrations, retrying while the server is down.
///
/// Run it as a service (it runs the pool). Until the schema is ready, ``isHealthy()`` is false and queries wait in
/// the pool; repositories turn connection failures into ``DependencyError`` (503), so the service keeps answering
/// and recovers without a restart when the database comes back.
public final class PostgresStore: Service {
    public let client: PostgresClient
    public let settings: PostgresSettings
    let migrations: [Migration]
    let logger: Logger
    private let ready = Atomic<Bool>(false)

    public init(settings: PostgresSettings, migrations: [Migration], logger: Logger) {
        self.settings = settings
        self.migrations = migrations
        self.logger = logger
        self.client = PostgresClient(configuration: settings.clientConfiguration(database: settings.database), backgroundLogger: logger)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            // Started at once on this thread, up to its first suspension: the pool runs before anything leases from
            // it (an ordinary child task may start after the first query is issued, with one CPU it usually does).
            group.addImmediateTask { await self.client.run() }
            group.addTask { await self.prepareUntilReady() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Whether the schema is ready and the server answers (readiness).
    public func isHealthy() async -> Bool {
        guard self.ready.load(ordering: .relaxed) else { return false }
        do {
            return try await OperationTimeouts.shared.run(within: .seconds(2)) {
                let rows = try await self.client.query("SELECT 1", logger: self.logger)
                for try await _ in rows {}
                return true
            }
        } catch {
            return false
        }
    }

    /// Runs `body` with the client within `POSTGRES_QUERY_TIMEOUT_MS`. Server errors (constraint violations and the
    /// like) are rethrown as they are; anything else — no connection, pool exhausted, timeout — becomes a
    /// ``DependencyError``, which clients see as 503.
    public func withClient<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await OperationTimeouts.shared.run(within: self.settings.queryTimeout) { try await body(client) }
        } catch  where Self.isServerError(error) {
            throw error
        } catch {
            throw DependencyError(dependency: "database", underlying: error)
        }
    }

    /// Whether `error` is the server's answer to a statement (as opposed to a connection-level failure).
    public static func isServerError(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return error.code == .server }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].contains { $0.map(isServerError) ?? false }
        }
        return false
    }

    func prepareUntilReady() async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await self.createDatabaseIfMissing()
                try await self.migrate()
                self.ready.store(true, ordering: .relaxed)
                self.logger.info("Database ready", metadata: ["db.name": .string(self.settings.database)])
                return
            } catch {
                self.logger.warning(
                    "Database not ready, retrying",
                    metadata: ["db.name": .string(self.settings.database), "error.type": .string(String(reflecting: type(of: error)))]
                )
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Creates the database from the `postgres` maintenance database when it does not exist.
    func createDatabaseIfMissing() async throws {
        let maintenance = PostgresClient(configuration: self.settings.clientConfiguration(database: "postgres"), backgroundLogger: self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addImmediateTask { await maintenance.run() }
            defer { group.cancelAll() }
            let name = self.settings.database
            let rows = try await maintenance.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: self.logger)
            var exists = false
            for try await _ in rows { exists = true }
            if !exists {
                do {
                    // The name was validated as a plain identifier, so quoting it is safe.
                    _ = try await maintenance.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: self.logger)
                    self.logger.info("Database created", metadata: ["db.name": .string(name)])
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
                    // Created concurrently by another replica.
                }
            }
        }
    }

    /// Applies the migrations not yet recorded, under an advisory lock so replicas do not race.
    func migrate() async throws {
        try await self.client.withConnection { connection in
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: self.logger
            )
            try await connection.query("SELECT pg_advisory_lock(7346101)", logger: self.logger)
            do {
                var applied: Set<Int> = []
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: self.logger).decode(Int.self) {
                    applied.insert(version)
                }
                for migration in self.migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
                    try await connection.query("BEGIN", logger: self.logger)
                    do {
                        for statement in migration.statements {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                        }
                        try await connection.query(
                            "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                            logger: self.logger
                        )
                        try await connection.query("COMMIT", logger: self.logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: self.logger)
                        throw error
                    }
                    self.logger.info("Migration applied", metadata: ["db.migration": .string("\(migration.version) \(migration.name)")])
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7346101)", logger: self.logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7346101)", logger: self.logger)
        }
    }
}

extension PSQLError {
    /// The SQLSTATE of a server error (e.g. `23505` unique violation).
    public var sqlState: String? { self.serverInfo?[.sqlState] }
    /// The violated constraint's name, for constraint errors.
    public var constraintName: String? { self.serverInfo?[.constraintName] }
}
