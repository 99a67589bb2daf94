import BookstoreCore
import CMongoC
import JSONKit
import Logging
import NIOPosix
import Synchronization

/// A pooled connection to a MongoDB server (libmongoc's `mongoc_client_pool_t`).
///
/// Every blocking driver call runs on a thread pool (`NIOThreadPool.singleton` by default), never on an event loop or
/// the cooperative pool. An operation that cannot reach the server in ``MongoSettings/timeout`` fails with
/// ``BookstoreCore/DependencyError`` (`dependency: "database"`); one that waited longer than that for a thread fails the
/// same way without touching the server, so a backlog during an outage drains instead of growing.
public final class MongoClient: Sendable {
    public let settings: MongoSettings
    let logger: Logger
    let threadPool: NIOThreadPool
    private let pool: ClientPool
    private let probe: HealthProbe

    /// Creates the pool (no connection is made until the first operation).
    /// - Parameters:
    ///   - settings: where and how to connect.
    ///   - logger: receives outages and driver messages (never sent to clients).
    ///   - threadPool: where the blocking driver calls run.
    public init(settings: MongoSettings, logger: Logger = Logger(label: "mongodb"), threadPool: NIOThreadPool = .singleton) throws(ConfigurationError)
    {
        MongoLibrary.initialize()
        self.settings = settings
        self.logger = logger
        self.threadPool = threadPool
        let timeout = settings.timeoutMilliseconds
        self.pool = try ClientPool(uri: settings.uri, appName: settings.appName) { uri in
            Self.setDefault(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout)
            Self.setDefault(uri, MONGOC_URI_CONNECTTIMEOUTMS, min(timeout, 10_000))
            Self.setDefault(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout)
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, Int32(settings.poolSize))
        }
        let probeTimeout = min(timeout, 2000)
        self.probe = try HealthProbe(uri: settings.uri, appName: settings.appName) { uri in
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, probeTimeout)
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, probeTimeout)
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, probeTimeout)
        }
    }

    private static func setDefault(_ uri: OpaquePointer, _ option: String, _ value: Int32) {
        if !mongoc_uri_has_option(uri, option) { mongoc_uri_set_option_as_int32(uri, option, value) }
    }

    /// A collection of `database` (the settings' database by default).
    public func collection(_ name: String, database: String? = nil) -> MongoCollection {
        MongoCollection(client: self, database: database ?? self.settings.database, name: name)
    }

    /// Sends `ping` to the server.
    /// - Throws: ``BookstoreCore/DependencyError`` when the server cannot be reached.
    public func ping() async throws {
        try await self.withClient("ping") { client in
            try Self.ping(client)
        }
    }

    /// Whether the server answers a `ping` within 2 s, on a connection of its own (so a saturated pool cannot make a
    /// healthy server look down). Concurrent callers share one ping.
    public func isReachable() async -> Bool {
        guard !self.pool.isClosed else { return false }
        return await self.probe.check(on: self.threadPool)
    }

    /// Drops a whole database (for tests and tools).
    public func dropDatabase(_ name: String) async throws {
        try await self.withClient("dropDatabase") { client in
            let database = mongoc_client_get_database(client, name)
            defer { mongoc_database_destroy(database) }
            var error = bson_error_t()
            guard mongoc_database_drop_with_opts(database, nil, &error) else { throw MongoError(error) }
        }
    }

    /// Closes the pool: later operations fail with 503; the pool is destroyed once the last running operation ends.
    public func close() {
        self.pool.close()
    }

    static func ping(_ client: OpaquePointer) throws {
        let command = try BSONDocument(["ping": 1])
        var error = bson_error_t()
        let ok = try withReplyDocument { reply in
            mongoc_client_command_simple(client, "admin", command.pointer, nil, reply, &error)
        }
        guard ok else { throw MongoError(error) }
    }

    /// Runs `body` with a pooled `mongoc_client_t *` on the thread pool, within the settings' timeout.
    ///
    /// Outages become ``BookstoreCore/DependencyError``, logged with the driver's message; other failures are thrown
    /// as ``MongoError``.
    func withClient<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let deadline = ContinuousClock.now.advanced(by: self.settings.timeout)
        let pool = self.pool
        do {
            return try await self.threadPool.runIfActive {
                guard ContinuousClock.now < deadline else {
                    throw MongoError(code: .unavailable, detail: "no thread was free to run the operation within the timeout")
                }
                let client = try pool.checkout()
                defer { pool.checkin(client) }
                return try body(client)
            }
        } catch let error as MongoError where error.isUnavailable {
            self.logger.warning(
                "MongoDB unavailable",
                metadata: ["db.operation": .string(operation), "error.type": "MongoError", "error.message": .string(String(reflecting: error))]
            )
            throw DependencyError(dependency: "database", underlying: error)
        } catch let error as MongoError {
            self.logger.debug(
                "MongoDB operation failed",
                metadata: ["db.operation": .string(operation), "error.message": .string(String(reflecting: error))]
            )
            throw error
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw DependencyError(dependency: "database", underlying: MongoError.closedClient)
        }
    }
}

/// The libmongoc client pool and its lifetime: operations check clients out and in; closing destroys the pool once
/// the last checked-out client is back.
final class ClientPool: Sendable {
    private struct State {
        var checkedOut = 0
        var closed = false
        var destroyed = false
    }

    /// The `mongoc_client_pool_t *`. libmongoc documents pop and push as thread-safe; `state` guards its lifetime.
    nonisolated(unsafe) private let pool: OpaquePointer
    private let state = Mutex(State())

    init(uri text: String, appName: String, configure: (OpaquePointer) -> Void) throws(ConfigurationError) {
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else { throw ConfigurationError("invalid MONGO_URI: \(MongoError(error).detail)") }
        defer { mongoc_uri_destroy(uri) }
        configure(uri)
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else {
            throw ConfigurationError("cannot create the MongoDB client pool: \(MongoError(error).detail)")
        }
        mongoc_client_pool_set_error_api(pool, Int32(MONGOC_ERROR_API_VERSION_2))
        if mongoc_uri_get_appname(uri) == nil { mongoc_client_pool_set_appname(pool, appName) }
        self.pool = pool
    }

    deinit {
        let destroy = self.state.withLock { state in
            defer { state.destroyed = true }
            return !state.destroyed
        }
        if destroy { mongoc_client_pool_destroy(self.pool) }
    }

    var isClosed: Bool { self.state.withLock { $0.closed } }

    /// A client (blocks while all `maxPoolSize` clients are in use).
    func checkout() throws(MongoError) -> OpaquePointer {
        try self.state.withLock { state throws(MongoError) in
            guard !state.closed else { throw MongoError.closedClient }
            state.checkedOut += 1
        }
        return mongoc_client_pool_pop(self.pool)
    }

    func checkin(_ client: OpaquePointer) {
        mongoc_client_pool_push(self.pool, client)
        let destroy = self.state.withLock { state in
            state.checkedOut -= 1
            guard state.closed, state.checkedOut == 0, !state.destroyed else { return false }
            state.destroyed = true
            return true
        }
        if destroy { mongoc_client_pool_destroy(self.pool) }
    }

    func close() {
        let destroy = self.state.withLock { state in
            guard !state.closed else { return false }
            state.closed = true
            guard state.checkedOut == 0 else { return false }
            state.destroyed = true
            return true
        }
        if destroy { mongoc_client_pool_destroy(self.pool) }
    }
}

/// Readiness pings on a single-threaded client of their own, with 2 s timeouts, one at a time: callers that arrive
/// while a ping runs wait for its result instead of queueing more blocking work.
final class HealthProbe: Sendable {
    private struct State {
        var running = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    /// The `mongoc_client_t *`; used by one ping at a time (guarded by `state.running`).
    nonisolated(unsafe) private let client: OpaquePointer
    private let state = Mutex(State())

    init(uri text: String, appName: String, configure: (OpaquePointer) -> Void) throws(ConfigurationError) {
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else { throw ConfigurationError("invalid MONGO_URI: \(MongoError(error).detail)") }
        defer { mongoc_uri_destroy(uri) }
        configure(uri)
        if mongoc_uri_get_appname(uri) == nil { mongoc_uri_set_appname(uri, appName) }
        guard let client = mongoc_client_new_from_uri_with_error(uri, &error) else {
            throw ConfigurationError("cannot create the MongoDB client: \(MongoError(error).detail)")
        }
        mongoc_client_set_error_api(client, Int32(MONGOC_ERROR_API_VERSION_2))
        self.client = client
    }

    deinit {
        mongoc_client_destroy(self.client)
    }

    func check(on threadPool: NIOThreadPool) async -> Bool {
        await withCheckedContinuation { continuation in
            let start = self.state.withLock { state in
                state.waiters.append(continuation)
                defer { state.running = true }
                return !state.running
            }
            guard start else { return }
            threadPool.submit { workState in
                let began = ContinuousClock.now
                var up = false
                if case .active = workState {
                    up = (try? MongoClient.ping(self.client)) != nil && began.duration(to: .now) <= .seconds(2)
                }
                let waiters = self.state.withLock { state in
                    state.running = false
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: up) }
            }
        }
    }
}
