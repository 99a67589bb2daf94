import BookstoreCore
import CMongoC

/// MongoDB settings: `MONGO_URI`, or `MONGO_HOST`, `MONGO_PORT` (27017), `MONGO_USER`, `MONGO_PASSWORD`,
/// `MONGO_AUTH_SOURCE` (admin) and `MONGO_DIRECT_CONNECTION` (true) to build it; `MONGO_DB` (the service's database by
/// default), `MONGO_POOL_SIZE` (16) and `MONGO_TIMEOUT_MS` (5000: server selection, connect and socket timeout).
///
/// The connection string may carry a password: ``description`` never shows it.
public struct MongoSettings: Sendable, CustomStringConvertible {
    /// The connection string (never log it: it may contain a password).
    public var uri: String
    public var database: String
    public var poolSize: Int
    /// How long an operation may wait for a server and for each answer before it fails with 503.
    public var timeout: Duration
    /// The application name the server sees (`SERVICE_NAME`), unless the URI sets `appname`.
    public var appName: String

    /// Reads the settings.
    /// - Parameters:
    ///   - settings: the environment and flags.
    ///   - defaultDatabase: the database when `MONGO_DB` is not set (e.g. `review_db`).
    public init(settings: Settings, defaultDatabase: String) throws(ConfigurationError) {
        let uri: String
        if let given = settings["MONGO_URI"] {
            uri = given
        } else {
            guard let host = settings["MONGO_HOST"] else { throw ConfigurationError("missing required setting MONGO_URI (or MONGO_HOST)") }
            uri = try Self.uri(
                host: host,
                port: try settings.int("MONGO_PORT", default: 27017, range: 1...65535),
                user: settings["MONGO_USER"],
                password: settings["MONGO_PASSWORD"],
                authSource: settings.string("MONGO_AUTH_SOURCE", default: "admin"),
                directConnection: try settings.bool("MONGO_DIRECT_CONNECTION", default: true)
            )
        }
        try self.init(
            uri: uri,
            database: settings.string("MONGO_DB", default: defaultDatabase),
            poolSize: try settings.int("MONGO_POOL_SIZE", default: 16, range: 1...1000),
            timeout: .milliseconds(try settings.int("MONGO_TIMEOUT_MS", default: 5000, range: 100...600_000)),
            appName: settings.string("SERVICE_NAME", default: "bookstore")
        )
    }

    /// Settings from their values; the URI and the database name are validated.
    public init(
        uri: String,
        database: String,
        poolSize: Int = 16,
        timeout: Duration = .seconds(5),
        appName: String = "bookstore"
    ) throws(ConfigurationError) {
        guard Self.isValidDatabaseName(database) else {
            throw ConfigurationError("invalid MONGO_DB=\(database): use 1 to 63 characters without / \\ . \" $ or spaces")
        }
        guard (1...1000).contains(poolSize) else { throw ConfigurationError("invalid MONGO_POOL_SIZE=\(poolSize): expected 1...1000") }
        MongoLibrary.initialize()
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else {
            let message = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw ConfigurationError("invalid MONGO_URI: \(message)")
        }
        mongoc_uri_destroy(parsed)
        self.uri = uri
        self.database = database
        self.poolSize = poolSize
        self.timeout = timeout
        self.appName = appName
    }

    /// The timeout in whole milliseconds, as the driver's options take it.
    public var timeoutMilliseconds: Int32 {
        let (seconds, attoseconds) = self.timeout.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    public var description: String {
        "MongoDB database \(self.database) (pool \(self.poolSize), timeout \(self.timeoutMilliseconds) ms)"
    }

    /// A connection string for one host, with percent-encoded credentials.
    static func uri(
        host: String,
        port: Int,
        user: String?,
        password: String?,
        authSource: String,
        directConnection: Bool
    ) throws(ConfigurationError) -> String {
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":" }) else {
            throw ConfigurationError("invalid MONGO_HOST=\(host)")
        }
        let address = host.contains(":") ? "[\(host)]" : host
        var uri = "mongodb://"
        var options: [String] = []
        if let user {
            uri += Self.percentEncoded(user)
            if let password { uri += ":" + Self.percentEncoded(password) }
            uri += "@"
            options.append("authSource=\(Self.percentEncoded(authSource))")
        }
        uri += "\(address):\(port)/"
        if directConnection { options.append("directConnection=true") }
        if !options.isEmpty { uri += "?" + options.joined(separator: "&") }
        return uri
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(hex[Int(byte >> 4)])
                result.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return result
    }

    /// MongoDB's rules for database names (on every platform).
    static func isValidDatabaseName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && !name.contains { "/\\. \"$*<>:|?".contains($0) || $0 == "\0" }
    }
}
