import BookstoreCore
import Foundation
import Logging

extension Runtime {
    /// Sets up JSON logs at `LOG_LEVEL` (`defaultLevel` when unset or unknown) for the whole process, once.
    /// - Returns: a logger labelled `label`.
    public static func bootstrapLogging(settings: Settings, label: String, defaultLevel: Logger.Level = .info) -> Logger {
        let level = Logger.Level(rawValue: settings.string("LOG_LEVEL", default: defaultLevel.rawValue).lowercased()) ?? defaultLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        return Logger(label: label)
    }

    /// The settings in `environment` that every replica of a local cluster shares: connections (`POSTGRES_*`,
    /// `RABBITMQ_*`, `MONGO_*`), `JWT_*`, `PAYMENT_*`, `ADMIN_*`, `LOGIN_*`, `GATEWAY_*`, `BOOKSTORE_*` (test-only fault selection), `LOG_LEVEL`, `ACCESS_LOG`,
    /// `BCRYPT_COST` and `SHUTDOWN_DRAIN_SECONDS`; `JWT_SECRET`, `ADMIN_USERNAME` and `ADMIN_PASSWORD` default to
    /// those of the embedded mode.
    public static func sharedServiceEnvironment(_ environment: [String: String]) -> [String: String] {
        let prefixes = ["POSTGRES_", "RABBITMQ_", "MONGO_", "JWT_", "PAYMENT_", "ADMIN_", "LOGIN_", "GATEWAY_", "BOOKSTORE_"]
        let names: Set = ["LOG_LEVEL", "ACCESS_LOG", "BCRYPT_COST", "SHUTDOWN_DRAIN_SECONDS"]
        var shared = environment.filter { key, _ in names.contains(key) || prefixes.contains { key.hasPrefix($0) } }
        shared["JWT_SECRET"] = shared["JWT_SECRET"] ?? Self.embeddedDevelopmentSecret
        shared["ADMIN_USERNAME"] = shared["ADMIN_USERNAME"] ?? "admin"
        shared["ADMIN_PASSWORD"] = shared["ADMIN_PASSWORD"] ?? "admin123"
        return shared
    }

    /// What `bookstore up` prints once every service listens: each service's URL and a first request to try.
    public static func upBanner(_ urls: [(ServiceKind, String)]) -> String {
        var lines = ["", "Bookstore is up (embedded mode, in-memory stores, in-process event bus):"]
        for (kind, url) in urls { lines.append("  \(kind.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(url)") }
        lines.append("Try: curl \(urls.first { $0.0 == .gateway }?.1 ?? "")/api/users/health   (Ctrl-C stops)")
        lines.append("")
        return lines.joined(separator: "\n")
    }
}
