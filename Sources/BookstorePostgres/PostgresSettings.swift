import BookstoreCore
import PostgresNIO

/// PostgreSQL settings: `POSTGRES_HOST`, `POSTGRES_PORT` (5432), `POSTGRES_DB`, `POSTGRES_USER`, `POSTGRES_PASSWORD`,
/// `POSTGRES_POOL_SIZE` (20), `POSTGRES_TLS` (`disable`, `prefer`, `require`; default `disable`).
public struct PostgresSettings: Sendable {
    public var host: String
    public var port: Int
    public var database: String
    public var username: String
    public var password: String?
    public var poolSize: Int
    public var tls: String
    /// How long one repository operation may take before it fails with 503 (`POSTGRES_QUERY_TIMEOUT_MS`, 5000).
    public var queryTimeout: Duration

    public init(settings: Settings, defaultDatabase: String) throws(ConfigurationError) {
        self.host = try settings.requiredString("POSTGRES_HOST")
        self.port = try settings.int("POSTGRES_PORT", default: 5432, range: 1...65535)
        self.database = settings.string("POSTGRES_DB", default: defaultDatabase)
        guard Self.isPlainIdentifier(self.database) else {
            throw ConfigurationError("invalid POSTGRES_DB=\(self.database): use letters, digits and '_'")
        }
        self.username = try settings.requiredString("POSTGRES_USER")
        self.password = settings["POSTGRES_PASSWORD"]
        self.poolSize = try settings.int("POSTGRES_POOL_SIZE", default: 20, range: 1...500)
        self.tls = try settings.choice("POSTGRES_TLS", default: "disable", allowed: ["disable", "prefer", "require"])
        self.queryTimeout = .milliseconds(try settings.int("POSTGRES_QUERY_TIMEOUT_MS", default: 5000, range: 100...600_000))
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    /// One plain connection (no pool) to `database`: for the one-off statements of start-up.
    func connectionConfiguration(database: String) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch self.tls {
            case "prefer": .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case "require": .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default: .disable
            }
        var configuration = PostgresConnection.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }

    func clientConfiguration(database: String) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case "prefer": .prefer(.makeClientConfiguration())
            case "require": .require(.makeClientConfiguration())
            default: .disable
            }
        var configuration = PostgresClient.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: database,
            tls: tls
        )
        configuration.options.maximumConnections = self.poolSize
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}
