import CMongoC
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Synchronization

/// The anchors of `ci/bench-services` (never part of the `bookstore` product):
///
///     bench-hello serve PORT
///         a bare Hummingbird server: `GET /hello` answers "Hello", `POST /hello` reads the body and answers "Hello";
///     bench-hello mongo-loop URI DATABASE COLLECTION PIPELINE_JSON WORKERS SECONDS
///         WORKERS threads issuing the aggregation PIPELINE_JSON back to back through one libmongoc client pool and
///         reading every document of each reply;
///     bench-hello postgres-loop HOST PORT USER PASSWORD DATABASE SQL UUIDS QUERIES_PER_OP WORKERS SECONDS
///         WORKERS tasks issuing SQL QUERIES_PER_OP times per operation over one postgres-nio `PostgresClient`
///         (WORKERS connections), reading every row; $1 is UUIDS, one UUID or a comma-separated uuid[];
///     bench-hello relay-nio PORT UPSTREAM_PORT
///     bench-hello relay-sockets PORT UPSTREAM_PORT
///     bench-hello relay-loop PORT UPSTREAM_PORT
///         byte relays from 127.0.0.1:PORT to 127.0.0.1:UPSTREAM_PORT on one thread, with SwiftNIO's channels, with
///         plain sockets on epoll or with SocketLoop: the floors of a Swift proxy (``RelayFloor``).
///
/// The loops print one line: `ops=N seconds=S ops_per_s=R cpu_us_per_op=C` (CPU is this process's user+sys time).
@main
struct BenchHello {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "serve" where arguments.count == 2:
            try await serve(port: Int(arguments[1])!)
        case "mongo-loop" where arguments.count == 7:
            try mongoLoop(
                uri: arguments[1],
                database: arguments[2],
                collection: arguments[3],
                pipeline: arguments[4],
                workers: Int(arguments[5])!,
                seconds: Double(arguments[6])!
            )
        case "postgres-loop" where arguments.count == 11:
            try await postgresLoop(
                configuration: .init(
                    host: arguments[1],
                    port: Int(arguments[2])!,
                    username: arguments[3],
                    password: arguments[4],
                    database: arguments[5],
                    tls: .disable
                ),
                sql: arguments[6],
                ids: arguments[7].split(separator: ",").map { UUID(uuidString: String($0))! },
                queriesPerOperation: Int(arguments[8])!,
                workers: Int(arguments[9])!,
                seconds: Double(arguments[10])!
            )
        case "relay-nio" where arguments.count == 3:
            try RelayFloor.nio(port: Int(arguments[1])!, upstreamPort: Int(arguments[2])!)
        #if canImport(Glibc)
        case "relay-sockets" where arguments.count == 3:
            RelayFloor.sockets(port: Int(arguments[1])!, upstreamPort: Int(arguments[2])!)
        case "relay-loop" where arguments.count == 3:
            try RelayFloor.loop(port: Int(arguments[1])!, upstreamPort: Int(arguments[2])!)
        #endif
        default:
            FileHandle.standardError.write(Data("usage: see the comment of BenchHello.swift\n".utf8))
            exit(64)
        }
    }

    static func serve(port: Int) async throws {
        let router = Router()
        router.get("/hello") { _, _ in "Hello" }
        router.post("/hello") { request, _ -> String in
            _ = try await request.body.collect(upTo: 1 << 20)
            return "Hello"
        }
        var logger = Logger(label: "bench-hello")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.runService()
    }

    static func mongoLoop(uri text: String, database: String, collection name: String, pipeline: String, workers: Int, seconds: Double) throws {
        mongoc_init()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else { fatalError("invalid URI \(text)") }
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, Int32(workers))
        nonisolated(unsafe) let pool = mongoc_client_pool_new(uri)!
        mongoc_uri_destroy(uri)
        let command = "{\"pipeline\": \(pipeline)}"
        let counters = Counters()
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        let finished = DispatchGroup()
        let cpuBefore = cpuSeconds()
        let start = ContinuousClock.now
        for _ in 0..<workers {
            finished.enter()
            Thread {
                let client = mongoc_client_pool_pop(pool)
                let json = Array(command.utf8)
                let stages = json.withUnsafeBufferPointer { bson_new_from_json($0.baseAddress, $0.count, nil) }!
                while ContinuousClock.now < deadline {
                    let collection = mongoc_client_get_collection(client, database, name)
                    let cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, stages, nil, nil)
                    var document: OpaquePointer?
                    var count = 0
                    while mongoc_cursor_next(cursor, &document) { count += 1 }
                    var error = bson_error_t()
                    if mongoc_cursor_error(cursor, &error) || count == 0 {
                        counters.failures.add(1, ordering: .relaxed)
                    } else {
                        counters.operations.add(1, ordering: .relaxed)
                    }
                    mongoc_cursor_destroy(cursor)
                    mongoc_collection_destroy(collection)
                }
                bson_destroy(stages)
                mongoc_client_pool_push(pool, client)
                finished.leave()
            }.start()
        }
        finished.wait()
        report(
            operations: counters.operations.load(ordering: .relaxed),
            failures: counters.failures.load(ordering: .relaxed),
            elapsed: start.duration(to: .now),
            cpu: cpuSeconds() - cpuBefore
        )
        mongoc_client_pool_destroy(pool)
        mongoc_cleanup()
    }

    static func postgresLoop(
        configuration: PostgresClient.Configuration,
        sql: String,
        ids: [UUID],
        queriesPerOperation: Int,
        workers: Int,
        seconds: Double
    ) async throws {
        var configuration = configuration
        configuration.options.maximumConnections = workers
        let logger = {
            var logger = Logger(label: "bench-hello")
            logger.logLevel = .warning
            return logger
        }()
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Started at once (not enqueued), so that the pool runs before the first lease: a lease before `run()`
            // is logged as a warning by postgres-nio and waits.
            group.addImmediateTask { await client.run() }
            // One warm-up query per worker opens the connections before the clock starts.
            try await withThrowingTaskGroup(of: Void.self) { warmUp in
                for _ in 0..<workers { warmUp.addTask { try await runQuery(client, sql: sql, ids: ids, logger: logger) } }
                try await warmUp.waitForAll()
            }
            let cpuBefore = cpuSeconds()
            let start = ContinuousClock.now
            let operations = try await withThrowingTaskGroup(of: Int.self) { loops in
                for _ in 0..<workers {
                    loops.addTask {
                        var count = 0
                        while ContinuousClock.now < deadline {
                            for _ in 0..<queriesPerOperation { try await runQuery(client, sql: sql, ids: ids, logger: logger) }
                            count += 1
                        }
                        return count
                    }
                }
                return try await loops.reduce(0, +)
            }
            report(operations: operations, failures: 0, elapsed: start.duration(to: .now), cpu: cpuSeconds() - cpuBefore)
            group.cancelAll()
        }
    }

    static func runQuery(_ client: PostgresClient, sql: String, ids: [UUID], logger: Logger) async throws {
        var bindings = PostgresBindings()
        if ids.count == 1 { bindings.append(ids[0]) } else { bindings.append(ids) }
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        precondition(count > 0, "the query returned no row")
    }

    static func report(operations: Int, failures: Int, elapsed: Duration, cpu: Double) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(operations) / seconds
        let cpuPerOperation = operations > 0 ? cpu / Double(operations) * 1e6 : 0
        print("ops=\(operations) failures=\(failures) seconds=\(seconds) ops_per_s=\(rate) cpu_us_per_op=\(cpuPerOperation)")
    }

    /// User plus system CPU time of this process, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

/// The mongo loop's tallies, shared by its threads.
final class Counters: Sendable {
    let operations = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
}
