import BookstoreCore
import Logging
import ServiceLifecycle
import Synchronization

/// A MongoDB database that creates its indexes at start-up, retrying while the server is down.
///
/// Run it as a service. Until the indexes exist, ``isHealthy()`` is false; repositories turn outages into
/// ``BookstoreCore/DependencyError`` (503), so the service keeps answering and recovers without a restart when the
/// server comes back. On shutdown the client pool is closed.
public final class MongoStore: Service {
    public let client: MongoClient
    public let settings: MongoSettings
    let indexes: [MongoIndex]
    let logger: Logger
    private let ready = Atomic<Bool>(false)

    /// - Parameters:
    ///   - settings: where to connect and which database to use.
    ///   - indexes: the indexes to create at start-up (in the settings' database).
    ///   - logger: receives start-up progress and outages.
    public init(settings: MongoSettings, indexes: [MongoIndex], logger: Logger) throws(ConfigurationError) {
        self.settings = settings
        self.indexes = indexes
        self.logger = logger
        self.client = try MongoClient(settings: settings, logger: logger)
    }

    /// A collection of the store's database.
    public func collection(_ name: String) -> MongoCollection {
        self.client.collection(name, database: self.settings.database)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.prepareUntilReady() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        self.ready.store(false, ordering: .relaxed)
        self.client.close()
    }

    /// Whether the indexes are ready and the server answers a ping within 2 s (readiness).
    public func isHealthy() async -> Bool {
        guard self.ready.load(ordering: .relaxed) else { return false }
        return await self.client.isReachable()
    }

    /// Whether the start-up indexes have been created.
    public var isPrepared: Bool { self.ready.load(ordering: .relaxed) }

    func prepareUntilReady() async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await self.createIndexes()
                self.ready.store(true, ordering: .relaxed)
                self.logger.info("Database ready", metadata: ["db.name": .string(self.settings.database)])
                return
            } catch {
                self.logger.warning(
                    "Database not ready, retrying",
                    metadata: [
                        "db.name": .string(self.settings.database),
                        "error.type": .string(String(reflecting: type(of: error))),
                        "error.message": .string(String(reflecting: error)),
                    ]
                )
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Creates every index, collection by collection.
    func createIndexes() async throws {
        var collections: [String] = []
        for index in self.indexes where !collections.contains(index.collection) { collections.append(index.collection) }
        for name in collections {
            try await self.collection(name).createIndexes(self.indexes.filter { $0.collection == name })
        }
    }
}
