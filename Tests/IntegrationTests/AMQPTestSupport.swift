import AMQPBus
import BookstoreCore
import Foundation
import JSONKit
import Logging
import Synchronization

/// Settings of the RabbitMQ integration tests: the process environment, over `.data/infra.env` (written by
/// `ci/infra start`).
enum AMQPTestEnvironment {
    static let isEnabled = ProcessInfo.processInfo.environment["BOOKSTORE_INTEGRATION"] == "1"

    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let values: [String: String] = {
        var values: [String: String] = [:]
        let file = ProcessInfo.processInfo.environment["BOOKSTORE_DATA"].map { $0 + "/infra.env" } ?? repositoryRoot + "/.data/infra.env"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                var line = String(line).trimmingWhitespace()
                guard !line.hasPrefix("#") else { continue }
                if line.hasPrefix("export ") { line.removeFirst(7) }
                guard let equals = line.firstIndex(of: "=") else { continue }
                var value = String(line[line.index(after: equals)...])
                if value.count >= 2, value.hasPrefix("'") || value.hasPrefix("\""), value.last == value.first {
                    value = String(value.dropFirst().dropLast())
                }
                values[String(line[..<equals])] = value
            }
        }
        return values.merging(ProcessInfo.processInfo.environment) { _, environment in environment }
    }()

    static var managementURL: String { values["RABBITMQ_MANAGEMENT_URL"] ?? "http://127.0.0.1:15672" }
    static var user: String { values["RABBITMQ_USER"] ?? "guest" }
    static var password: String { values["RABBITMQ_PASS"] ?? "guest" }

    /// The bus settings of one test, with its own outbox folder and a short heartbeat.
    static func settings(outbox: String) -> Settings {
        var environment = values.filter { $0.key.hasPrefix("RABBITMQ_") }
        environment["RABBITMQ_OUTBOX_DIR"] = outbox
        environment["RABBITMQ_HEARTBEAT_SECONDS"] = "5"
        return Settings(environment: environment)
    }

    static let logger: Logger = {
        var logger = Logger(label: "amqp-integration")
        logger.logLevel = ProcessInfo.processInfo.environment["AMQP_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// A unique prefix for the queues and exchanges of one test.
    static func uniqueName(_ label: String) -> String {
        "itest.amqp.\(label).\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Runs a command and returns its standard output; fails on a non-zero exit.
struct AMQPCommandError: Error, CustomStringConvertible {
    let description: String
}

func amqpRun(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw AMQPCommandError(
            description: "\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): "
                + String(decoding: errorData, as: UTF8.self)
        )
    }
    return String(decoding: data, as: UTF8.self)
}

/// The RabbitMQ management HTTP API (through curl): inspection and clean-up.
enum AMQPManagement {
    static func request(_ method: String, _ path: String, body: JSON? = nil) throws -> JSON? {
        var arguments = [
            "-sS", "--fail-with-body", "--max-time", "10", "-u", "\(AMQPTestEnvironment.user):\(AMQPTestEnvironment.password)", "-X", method,
        ]
        if let body { arguments += ["-H", "content-type: application/json", "-d", body.text] }
        arguments.append(AMQPTestEnvironment.managementURL + path)
        let text = try amqpRun("/usr/bin/curl", arguments)
        return text.isEmpty ? nil : try JSON.parse(text)
    }

    static func escape(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? name
    }

    /// Takes up to `count` messages from `queue` (removing them unless `requeue`).
    static func getMessages(_ queue: String, count: Int = 100, requeue: Bool = false) throws -> [JSON] {
        let body: JSON = ["count": .int(count), "ackmode": .string(requeue ? "ack_requeue_true" : "ack_requeue_false"), "encoding": "auto"]
        return try self.request("POST", "/api/queues/%2F/\(self.escape(queue))/get", body: body)?.arrayValue ?? []
    }

    static func queueExists(_ queue: String) -> Bool {
        (try? self.request("GET", "/api/queues/%2F/\(self.escape(queue))")) != nil
    }

    static func queueArguments(_ queue: String) throws -> JSONObject {
        try self.request("GET", "/api/queues/%2F/\(self.escape(queue))")?["arguments"]?.objectValue ?? JSONObject()
    }

    static func exchange(_ name: String) throws -> JSON? {
        try self.request("GET", "/api/exchanges/%2F/\(self.escape(name))")
    }

    /// The broker's connections whose client-provided name contains `fragment`.
    static func connections(named fragment: String) throws -> [JSON] {
        let all = try self.request("GET", "/api/connections")?.arrayValue ?? []
        return all.filter { ($0["client_properties"]?["connection_name"]?.stringValue ?? "").contains(fragment) }
    }

    /// The connections named with `fragment`, waiting for them to show up (the management API lists a new connection
    /// only after its next statistics update, up to `collect_statistics_interval` later).
    static func waitForConnections(named fragment: String, timeout: Duration = .seconds(15)) async throws -> [JSON] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let matching = try self.connections(named: fragment)
            if !matching.isEmpty || ContinuousClock.now >= deadline { return matching }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Closes (server side) every connection whose client-provided name contains `fragment`; returns how many.
    @discardableResult
    static func closeConnections(named fragment: String) async throws -> Int {
        let matching = try await self.waitForConnections(named: fragment)
        for connection in matching {
            if let name = connection["name"]?.stringValue {
                _ = try? self.request("DELETE", "/api/connections/\(self.escape(name))")
            }
        }
        return matching.count
    }

    /// Deletes the queues and exchanges whose names start with `prefix` (best effort).
    static func deleteEverything(startingWith prefix: String) {
        let queues = (try? self.request("GET", "/api/queues/%2F?columns=name"))?.arrayValue ?? []
        for queue in queues {
            if let name = queue["name"]?.stringValue, name.hasPrefix(prefix) {
                _ = try? self.request("DELETE", "/api/queues/%2F/\(self.escape(name))")
            }
        }
        let exchanges = (try? self.request("GET", "/api/exchanges/%2F?columns=name"))?.arrayValue ?? []
        for exchange in exchanges {
            if let name = exchange["name"]?.stringValue, name.hasPrefix(prefix) {
                _ = try? self.request("DELETE", "/api/exchanges/%2F/\(self.escape(name))")
            }
        }
    }

    /// Messages of the shared `unrouted` queue with `messageID`, removing only those.
    static func takeUnrouted(messageIDs: Set<String>) throws -> [JSON] {
        let all = try self.getMessages(Exchanges.unroutedQueue, count: 10_000, requeue: true)
        let ours = all.filter { messageIDs.contains($0["properties"]?["message_id"]?.stringValue ?? "") }
        return ours
    }
}

/// Stops and starts the RabbitMQ application (`rabbitmqctl stop_app` / `start_app`).
///
/// The command comes from `RABBITMQ_CTL` (a command line that takes rabbitmqctl's arguments, e.g. a wrapper that sets
/// the node's environment), else from `ci/infra rabbitmqctl` when `ci/infra` offers it.
enum AMQPBrokerControl {
    static let command: [String]? = {
        if let configured = AMQPTestEnvironment.values["RABBITMQ_CTL"], !configured.isEmpty {
            return configured.split(separator: " ").map(String.init)
        }
        let infra = AMQPTestEnvironment.repositoryRoot + "/ci/infra"
        if let help = try? amqpRun(infra, ["help"]), help.contains("ci/infra rabbitmqctl") {
            return [infra, "rabbitmqctl"]
        }
        return nil
    }()

    static var isAvailable: Bool { self.command != nil }

    static func run(_ arguments: String...) throws {
        guard let command = self.command else { throw AMQPCommandError(description: "no rabbitmqctl command (set RABBITMQ_CTL)") }
        _ = try amqpRun(command[0], Array(command.dropFirst()) + arguments)
    }
}

/// Messages received by test consumers, awaitable.
final class AMQPInbox: Sendable {
    private let state = Mutex<[EventMessage]>([])

    func append(_ message: EventMessage) {
        self.state.withLock { $0.append(message) }
    }

    var messages: [EventMessage] { self.state.withLock { $0 } }

    /// Waits until `predicate` holds for the messages received, or `timeout` passes; returns the messages.
    @discardableResult
    func wait(
        timeout: Duration = .seconds(20),
        until predicate: @Sendable ([EventMessage]) -> Bool
    ) async -> [EventMessage] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let messages = self.messages
            if predicate(messages) { return messages }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.messages
    }

    func wait(forCount count: Int, timeout: Duration = .seconds(20)) async -> [EventMessage] {
        await self.wait(timeout: timeout) { $0.count >= count }
    }
}

/// Runs `body` with a bus whose connection service runs, then stops it.
func withAMQPTestBus(
    serviceName: String = "amqp-itest",
    metrics: ServiceMetrics? = nil,
    outbox: String? = nil,
    _ body: @escaping @Sendable (AMQPEventBus) async throws -> Void
) async throws {
    let folder = outbox ?? (NSTemporaryDirectory() + "amqp-itest-" + UUID().uuidString.lowercased())
    defer { if outbox == nil { try? FileManager.default.removeItem(atPath: folder) } }
    let bus = try AMQPEventBus(
        settings: AMQPTestEnvironment.settings(outbox: folder),
        serviceName: serviceName,
        logger: AMQPTestEnvironment.logger,
        metrics: metrics
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await bus.run() }
        do {
            try await body(bus)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        try await group.waitForAll()
    }
}

/// Runs `body` while `work` runs in the background (consumers), then cancels `work`.
func withAMQPBackground(
    _ work: [@Sendable () async throws -> Void],
    _ body: @Sendable () async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for item in work { group.addTask { try await item() } }
        do {
            try await body()
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        try await group.waitForAll()
    }
}
