import BookstoreCore
import Foundation
import Logging
import ServiceLifecycle

/// The real servers the integration tests use, from the environment `ci/infra` writes (`.data/infra.env`).
/// The tests run only with `BOOKSTORE_INTEGRATION=1`; otherwise they are reported as skipped, never as passed.
enum IntegrationEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let isEnabled = environment["BOOKSTORE_INTEGRATION"] == "1"

    static var settings: Settings { Settings(environment: environment) }

    static var logger: Logger {
        var logger = Logger(label: "integration")
        logger.logLevel = .warning
        return logger
    }

    /// A name unique to this test run, for databases, queues and collections.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Runs `services` in the background for the duration of `body`.
func withRunningServices<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try await service.run() }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}
