import AsyncHTTPClient
import BookstoreCore
import BookstoreRuntime
import Foundation
import JSONKit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Runs the replicas of the local cluster as child processes: starts them on their ports, restarts the ones that
/// die (with backoff), stops, starts, kills and scales on request, tracks readiness, and keeps the gateway's
/// upstream list and Prometheus' scrape targets in step with the replicas.
public actor Supervisor {
    public let configuration: ClusterConfiguration
    let logger: Logger
    private var replicas: [Replica] = []
    private var processes: [String: Process] = [:]
    private let exits: AsyncStream<(id: String, generation: Int, status: Int32)>
    private let exitContinuation: AsyncStream<(id: String, generation: Int, status: Int32)>.Continuation
    private let httpClient: HTTPClient

    var upstreamsFile: String { self.configuration.dataDirectory + "/upstreams.json" }
    var logDirectory: String { self.configuration.dataDirectory + "/logs" }

    public init(configuration: ClusterConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (self.exits, self.exitContinuation) = AsyncStream.makeStream()
        var clientConfiguration = HTTPClient.Configuration(timeout: .init(connect: .milliseconds(500), read: .seconds(1)))
        clientConfiguration.connectionPool = .init(idleTimeout: .seconds(5))
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    // MARK: Queries

    public var allReplicas: [Replica] { self.replicas }

    public func replica(_ id: String) -> Replica? { self.replicas.first { $0.id == id } }

    // MARK: Lifecycle

    /// Creates the replicas of the configuration and starts them (backends first, gateways last).
    public func startAll() throws {
        try FileManager.default.createDirectory(atPath: self.logDirectory, withIntermediateDirectories: true)
        let order: [ServiceKind] = [.users, .paymentsPython, .paymentsJava, .reviews, .gateway]
        for kind in order {
            for _ in 0..<(self.configuration.replicas[kind] ?? 0) { self.addReplica(kind) }
        }
        self.writeUpstreams()
        for replica in self.replicas where replica.kind != .gateway { self.launch(replica.id) }
        for replica in self.replicas where replica.kind == .gateway { self.launch(replica.id) }
    }

    /// Supervises until cancelled: handles exits, restarts, and polls readiness.
    public func supervise() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await exit in self.exits { await self.handleExit(id: exit.id, generation: exit.generation, status: exit.status) }
            }
            group.addTask {
                while !Task.isCancelled {
                    await self.tick()
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Stops every replica: SIGTERM, then SIGKILL after `grace`.
    public func stopAll(grace: Duration = .seconds(10)) async {
        for index in self.replicas.indices {
            self.replicas[index].desired = false
            if let pid = self.replicas[index].pid { Glibc.kill(pid, SIGTERM) }
            self.continueIfPaused(index)
        }
        let deadline = ContinuousClock.now + grace
        while self.processes.values.contains(where: \.isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        for process in self.processes.values where process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        self.exitContinuation.finish()
        try? await self.httpClient.shutdown()
    }

    // MARK: Control

    public enum ControlError: Error, Equatable {
        case unknownReplica(String)
        case invalidReplicaCount(Int)
        case notRunning(String)
    }

    /// SIGKILLs a replica; the supervisor starts it again (a crash).
    @discardableResult
    public func kill(_ id: String) throws -> Replica {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { throw ControlError.unknownReplica(id) }
        if let pid = self.replicas[index].pid { Glibc.kill(pid, SIGKILL) }
        self.logger.info("Replica killed", metadata: ["replica.id": .string(id)])
        return self.replicas[index]
    }

    /// SIGSTOPs a replica: it keeps its listening socket and the connections it has, but reads and answers nothing
    /// (a stalled process: a long GC pause, a frozen VM) until ``resume(_:)``. Its readiness fails meanwhile.
    @discardableResult
    public func pause(_ id: String) throws -> Replica {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { throw ControlError.unknownReplica(id) }
        guard let pid = self.replicas[index].pid else { throw ControlError.notRunning(id) }
        Glibc.kill(pid, SIGSTOP)
        self.replicas[index].paused = true
        self.logger.info("Replica paused", metadata: ["replica.id": .string(id)])
        return self.replicas[index]
    }

    /// SIGCONTs a paused replica: it goes on with what it had received.
    @discardableResult
    public func resume(_ id: String) throws -> Replica {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { throw ControlError.unknownReplica(id) }
        self.continueIfPaused(index)
        self.logger.info("Replica resumed", metadata: ["replica.id": .string(id)])
        return self.replicas[index]
    }

    /// A paused process does not act on SIGTERM until continued.
    private func continueIfPaused(_ index: Int) {
        guard self.replicas[index].paused else { return }
        if let pid = self.replicas[index].pid { Glibc.kill(pid, SIGCONT) }
        self.replicas[index].paused = false
    }

    /// SIGTERMs a replica and keeps it stopped.
    @discardableResult
    public func stop(_ id: String) throws -> Replica {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { throw ControlError.unknownReplica(id) }
        self.replicas[index].desired = false
        self.replicas[index].restartAt = nil
        if let pid = self.replicas[index].pid { Glibc.kill(pid, SIGTERM) } else { self.replicas[index].status = .stopped }
        self.continueIfPaused(index)
        self.logger.info("Replica stopped", metadata: ["replica.id": .string(id)])
        return self.replicas[index]
    }

    /// Starts a stopped replica.
    @discardableResult
    public func start(_ id: String) throws -> Replica {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { throw ControlError.unknownReplica(id) }
        self.replicas[index].desired = true
        if self.replicas[index].pid == nil { self.launch(id) }
        return self.replicas[index]
    }

    /// Sets the number of replicas of a service, starting new ones or stopping and removing the newest.
    public func scale(_ kind: ServiceKind, to count: Int) throws -> [Replica] {
        guard (0...20).contains(count) else { throw ControlError.invalidReplicaCount(count) }
        var current = self.replicas.filter { $0.kind == kind }
        while current.count < count {
            let replica = self.addReplica(kind)
            self.launch(replica.id)
            current.append(replica)
        }
        while current.count > count, let last = current.popLast() {
            self.replicas[self.replicas.firstIndex { $0.id == last.id }!].desired = false
            if let pid = last.pid {
                Glibc.kill(pid, SIGTERM)
                if last.paused { Glibc.kill(pid, SIGCONT) }
            }
            self.replicas.removeAll { $0.id == last.id }
            self.removeTarget(last)
        }
        self.writeUpstreams()
        self.logger.info("Service scaled", metadata: ["service": .string(kind.rawValue), "replicas": .stringConvertible(count)])
        return self.replicas.filter { $0.kind == kind }
    }

    // MARK: Internals

    @discardableResult
    private func addReplica(_ kind: ServiceKind) -> Replica {
        let existing = self.replicas.filter { $0.kind == kind }
        var number = 1
        while existing.contains(where: { $0.id == "\(kind.rawValue)-\(number)" }) { number += 1 }
        let port = self.allocatePort(for: kind)
        let replica = Replica(id: "\(kind.rawValue)-\(number)", kind: kind, port: port)
        self.replicas.append(replica)
        self.writeTarget(replica)
        return replica
    }

    /// The service's default port for its first replica, then the next free ports above it (SPEC §2).
    private func allocatePort(for kind: ServiceKind) -> Int {
        let taken = Set(self.replicas.map(\.port)).union(ServiceKind.allCases.map(\.defaultPort))
        if !self.replicas.contains(where: { $0.kind == kind }) && isPortFree(kind.defaultPort) { return kind.defaultPort }
        var port = kind.defaultPort + 1
        while taken.contains(port) || !isPortFree(port) { port += 1 }
        return port
    }

    private func launch(_ id: String) {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }) else { return }
        var replica = self.replicas[index]
        replica.generation += 1
        let generation = replica.generation
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.configuration.binary)
        process.arguments = ["serve", replica.kind.rawValue]
        process.environment = self.configuration.environment(for: replica, upstreamsFile: self.upstreamsFile)
        let logPath = "\(self.logDirectory)/\(id).log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        if let log = FileHandle(forWritingAtPath: logPath) {
            log.seekToEndOfFile()
            process.standardOutput = log
            process.standardError = log
        }
        let continuation = self.exitContinuation
        process.terminationHandler = { process in
            continuation.yield((id, generation, process.terminationStatus))
        }
        do {
            try process.run()
            replica.pid = process.processIdentifier
            replica.status = .starting
            replica.startedAt = .now
            replica.restartAt = nil
            self.processes[id] = process
            self.logger.info(
                "Replica started",
                metadata: [
                    "replica.id": .string(id), "process.pid": .stringConvertible(process.processIdentifier),
                    "server.port": .stringConvertible(replica.port),
                ]
            )
        } catch {
            replica.status = .crashed
            replica.restartAt = .now + .seconds(2)
            self.logger.error("Replica could not be started", metadata: ["replica.id": .string(id), "error": .string("\(error)")])
        }
        self.replicas[index] = replica
    }

    private func handleExit(id: String, generation: Int, status: Int32) {
        guard let index = self.replicas.firstIndex(where: { $0.id == id }), self.replicas[index].generation == generation else {
            self.processes[id] = nil
            return
        }
        self.processes[id] = nil
        var replica = self.replicas[index]
        replica.pid = nil
        replica.paused = false
        replica.lastExitStatus = status
        if replica.desired {
            replica.status = .crashed
            let uptime = replica.startedAt.map { ContinuousClock.now - $0 } ?? .zero
            if uptime > .seconds(30) { replica.restarts = 0 }
            var generator = SystemRandomNumberGenerator()
            let delay = max(self.configuration.restartBackoff.delay(afterAttempt: replica.restarts + 1, using: &generator), .milliseconds(200))
            replica.restartAt = .now + delay
            self.logger.warning("Replica exited, restarting", metadata: ["replica.id": .string(id), "process.exit.code": .stringConvertible(status)])
        } else {
            replica.status = .stopped
        }
        self.replicas[index] = replica
    }

    /// Restarts due replicas and refreshes readiness.
    private func tick() async {
        let now = ContinuousClock.now
        for replica in self.replicas where replica.desired && replica.pid == nil {
            if let due = replica.restartAt, due <= now, let index = self.replicas.firstIndex(where: { $0.id == replica.id }) {
                self.replicas[index].restarts += 1
                self.launch(replica.id)
            }
        }
        let running = self.replicas.filter { $0.pid != nil }
        let results = await withTaskGroup(of: (String, Int, Bool).self) { group in
            for replica in running {
                group.addTask { (replica.id, replica.generation, await self.isReady(replica)) }
            }
            var results: [(String, Int, Bool)] = []
            for await result in group { results.append(result) }
            return results
        }
        for (id, generation, ready) in results {
            guard let index = self.replicas.firstIndex(where: { $0.id == id }), self.replicas[index].generation == generation,
                self.replicas[index].pid != nil
            else { continue }
            if ready {
                self.replicas[index].status = .ready
            } else if self.replicas[index].status == .ready {
                self.replicas[index].status = .unready
            }
        }
    }

    nonisolated func isReady(_ replica: Replica) async -> Bool {
        var request = HTTPClientRequest(url: replica.url + replica.kind.readinessPath)
        request.method = .GET
        do {
            let response = try await self.httpClient.execute(request, timeout: .seconds(1))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return response.status == .ok
        } catch {
            return false
        }
    }

    // MARK: Generated files

    /// The gateway's replica lists (`UPSTREAMS_FILE`).
    private func writeUpstreams() {
        var object = JSONObject()
        for kind in ServiceKind.allCases {
            guard let key = kind.upstreamSetting else { continue }
            object[key] = .array(self.replicas.filter { $0.kind == kind }.map { .string($0.url) })
        }
        atomicWrite(JSON.object(object).bytes, to: self.upstreamsFile)
    }

    private func writeTarget(_ replica: Replica) {
        guard let directory = self.configuration.prometheusTargetsDirectory else { return }
        let target: JSON = [
            [
                "targets": [.string("127.0.0.1:\(replica.port)")],
                "labels": [
                    "job": .string(replica.serviceName), "service": .string(replica.serviceName), "instance": .string(replica.id),
                    "__metrics_path__": .string(replica.kind.metricsPath),
                ],
            ]
        ]
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        atomicWrite(target.bytes, to: "\(directory)/cluster-\(replica.id).json")
    }

    private func removeTarget(_ replica: Replica) {
        guard let directory = self.configuration.prometheusTargetsDirectory else { return }
        try? FileManager.default.removeItem(atPath: "\(directory)/cluster-\(replica.id).json")
    }
}

/// Writes `bytes` to a temporary file and renames it over `path`, so readers never see half a file.
func atomicWrite(_ bytes: [UInt8], to path: String) {
    let temporary = path + ".tmp"
    _ = FileManager.default.createFile(atPath: temporary, contents: Data(bytes))
    _ = rename(temporary, path)
}

/// Whether nothing listens on 127.0.0.1:`port` (a bind succeeds).
func isPortFree(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    // As the servers bind (SO_REUSEADDR): connections of a previous run in TIME_WAIT do not make a port busy.
    var reuse: Int32 = 1
    _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}
