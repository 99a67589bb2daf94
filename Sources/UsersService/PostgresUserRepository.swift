import BookstoreCore
import BookstorePostgres
import Foundation
import Logging
import PostgresNIO

/// Users in PostgreSQL (`userdb`: tables `users` and `user_roles`, unique username and e-mail, case-insensitively).
public final class PostgresUserRepository: UserRepository {
    let database: PostgresStore
    let logger: Logger

    public init(store: PostgresStore, logger: Logger) {
        self.database = store
        self.logger = logger
    }

    /// The schema, applied idempotently at start-up.
    public static let migrations = [
        Migration(
            version: 1,
            name: "users and user_roles",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS users (
                    id UUID PRIMARY KEY,
                    username VARCHAR(50) NOT NULL,
                    email VARCHAR(100) NOT NULL,
                    password_hash VARCHAR(100) NOT NULL,
                    first_name VARCHAR(100) NOT NULL,
                    last_name VARCHAR(100) NOT NULL,
                    phone VARCHAR(20),
                    address VARCHAR(255),
                    active BOOLEAN NOT NULL DEFAULT TRUE,
                    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    last_login TIMESTAMPTZ
                )
                """,
                "CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (lower(username))",
                "CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email))",
                "CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at, id)",
                """
                CREATE TABLE IF NOT EXISTS user_roles (
                    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    role VARCHAR(50) NOT NULL,
                    PRIMARY KEY (user_id, role)
                )
                """,
            ]
        )
    ]

    static let selectColumns = """
        SELECT u.id, u.username, u.email, u.password_hash, u.first_name, u.last_name, u.phone, u.address, u.active,
               u.email_verified, u.created_at, u.updated_at, u.last_login,
               COALESCE(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles
        FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
        """

    public func create(_ user: User) async throws {
        do {
            try await self.database.withClient { client in
                try await client.withTransaction(logger: self.logger) { connection in
                    try await connection.query(
                        """
                        INSERT INTO users (id, username, email, password_hash, first_name, last_name, phone, address, active,
                                           email_verified, created_at, updated_at, last_login)
                        VALUES (\(user.id), \(user.username), \(user.email), \(user.passwordHash), \(user.firstName), \(user.lastName),
                                \(user.phone), \(user.address), \(user.active), \(user.emailVerified), \(user.createdAt), \(user.updatedAt),
                                \(user.lastLogin))
                        """,
                        logger: self.logger
                    )
                    for role in user.roles {
                        try await connection.query("INSERT INTO user_roles (user_id, role) VALUES (\(user.id), \(role))", logger: self.logger)
                    }
                }
            }
        } catch let error as PSQLError where error.sqlState == "23505" {
            throw error.constraintName == "users_email_key" ? UserRepositoryError.duplicateEmail : UserRepositoryError.duplicateUsername
        } catch let error as PostgresTransactionError {
            if let error = error.closureError as? PSQLError, error.sqlState == "23505" {
                throw error.constraintName == "users_email_key" ? UserRepositoryError.duplicateEmail : UserRepositoryError.duplicateUsername
            }
            throw DependencyError(dependency: "database", underlying: error)
        }
    }

    public func find(id: UUID) async throws -> User? {
        try await self.fetch(PostgresQuery(unsafeSQL: Self.selectColumns + " WHERE u.id = $1 GROUP BY u.id", binds: try Self.binds(id))).first
    }

    /// All of them in one `SELECT … WHERE u.id = ANY($1)`: one round trip and one statement for the caller check and
    /// the user asked for.
    public func find(ids: [UUID]) async throws -> [User?] {
        guard !ids.isEmpty else { return [] }
        let found = try await self.fetch(
            PostgresQuery(unsafeSQL: Self.selectColumns + " WHERE u.id = ANY($1) GROUP BY u.id", binds: try Self.binds(ids))
        )
        return ids.map { id in found.first { $0.id == id } }
    }

    public func find(usernameOrEmail: String) async throws -> User? {
        let key = usernameOrEmail.lowercased()
        return try await self.fetch(
            PostgresQuery(
                unsafeSQL: Self.selectColumns
                    + " WHERE lower(u.username) = $1 OR lower(u.email) = $1 GROUP BY u.id ORDER BY (lower(u.username) = $1) DESC",
                binds: try Self.binds(key)
            )
        ).first
    }

    public func list(offset: Int, limit: Int) async throws -> [User] {
        var binds = PostgresBindings()
        binds.append(limit)
        binds.append(offset)
        return try await self.fetch(
            PostgresQuery(unsafeSQL: Self.selectColumns + " GROUP BY u.id ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2", binds: binds)
        )
    }

    public func update(_ user: User) async throws -> Bool {
        try await self.database.withClient { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE users SET first_name = \(user.firstName), last_name = \(user.lastName), phone = \(user.phone),
                        address = \(user.address), active = \(user.active), email_verified = \(user.emailVerified),
                        updated_at = \(user.updatedAt), last_login = \(user.lastLogin)
                    WHERE id = \(user.id) RETURNING id
                    """,
                    logger: self.logger
                )
                var found = false
                for try await _ in rows { found = true }
                guard found else { return false }
                try await connection.query("DELETE FROM user_roles WHERE user_id = \(user.id)", logger: self.logger)
                for role in user.roles {
                    try await connection.query("INSERT INTO user_roles (user_id, role) VALUES (\(user.id), \(role))", logger: self.logger)
                }
                return true
            }
        }
    }

    public func delete(id: UUID) async throws -> Bool {
        try await self.database.withClient { client in
            var found = false
            for try await _ in try await client.query("DELETE FROM users WHERE id = \(id) RETURNING id", logger: self.logger) { found = true }
            return found
        }
    }

    public func isHealthy() async -> Bool { await self.database.isHealthy() }

    func fetch(_ query: PostgresQuery) async throws -> [User] {
        try await self.database.withClient { client in
            var users: [User] = []
            let rows = try await client.query(query, logger: self.logger)
            for try await row in rows {
                let (id, username, email, hash, first, last, phone, address, active, verified, created, updated, lastLogin, roles) =
                    try row.decode((UUID, String, String, String, String, String, String?, String?, Bool, Bool, Date, Date, Date?, [String]).self)
                users.append(
                    User(
                        id: id,
                        username: username,
                        email: email,
                        passwordHash: hash,
                        firstName: first,
                        lastName: last,
                        phone: phone,
                        address: address,
                        active: active,
                        emailVerified: verified,
                        roles: roles,
                        createdAt: created,
                        updatedAt: updated,
                        lastLogin: lastLogin
                    )
                )
            }
            return users
        }
    }

    static func binds(_ value: some PostgresEncodable) throws -> PostgresBindings {
        var binds = PostgresBindings()
        try binds.append(value)
        return binds
    }
}
