import CMongoC
import Logging

/// Process-wide libmongoc set-up, done once: `mongoc_init()` and a log handler that sends the driver's warnings and
/// errors to swift-log (as `mongoc`) instead of stderr.
enum MongoLibrary {
    private static let initialized: Bool = {
        mongoc_init()
        mongoc_log_set_handler(
            { level, domain, message, _ in
                let swiftLevel: Logger.Level
                switch level {
                case MONGOC_LOG_LEVEL_ERROR, MONGOC_LOG_LEVEL_CRITICAL: swiftLevel = .error
                case MONGOC_LOG_LEVEL_WARNING: swiftLevel = .warning
                default: return
                }
                let text = message.map { String(cString: $0) } ?? ""
                let domainName = domain.map { String(cString: $0) } ?? ""
                Logger(label: "mongoc").log(level: swiftLevel, "\(text)", metadata: ["mongoc.domain": .string(domainName)])
            },
            nil
        )
        return true
    }()

    /// Initialises libmongoc once per process (thread-safe; later calls do nothing).
    static func initialize() {
        _ = self.initialized
    }
}
