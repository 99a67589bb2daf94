import Foundation
import Synchronization

/// The embedded system (`bookstore up`: all five services in one process, in-memory stores, in-process bus):
/// spawned from a binary on free ports, or attached to at a base URL.
public final class EmbeddedTarget: Target {
    public struct Configuration: Sendable {
        /// The `bookstore` binary to spawn; ignored when ``baseURL`` is set.
        public var binary: String?
        /// Attach to a running system instead of spawning one.
        public var baseURL: String?
        public var contracts: ContractBook?
        /// The JWT secret of an attached system (a spawned one gets a fresh random secret, so it is known).
        public var signingKey: SigningKey?
        public var admin: AdminCredentials
        /// Extra environment for the spawned process (overrides the harness's choices).
        public var environment: [String: String]
        public var startupTimeout: Duration
        /// Where the spawned process writes its output (by default a temporary file, deleted by `release()`).
        public var logPath: String?

        public init(
            binary: String? = nil,
            baseURL: String? = nil,
            contracts: ContractBook? = nil,
            signingKey: SigningKey? = nil,
            admin: AdminCredentials = AdminCredentials(username: "admin", password: "admin123"),
            environment: [String: String] = [:],
            startupTimeout: Duration = .seconds(90),
            logPath: String? = nil
        ) {
            self.binary = binary
            self.baseURL = baseURL
            self.contracts = contracts
            self.signingKey = signingKey
            self.admin = admin
            self.environment = environment
            self.startupTimeout = startupTimeout
            self.logPath = logPath
        }
    }

    public let name = "embedded"
    public let configuration: Configuration
    private let state = Mutex<(child: ChildProcess?, endpoints: TargetEndpoints)>((nil, TargetEndpoints()))

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var endpoints: TargetEndpoints { self.state.withLock { $0.endpoints } }

    /// The spawned process's log file, if one was spawned.
    public var logPath: String? { self.logPathState.withLock { $0 } }
    private let logPathState = Mutex<String?>(nil)

    static let missing: [Capability: String] = [
        .amqpManagement: "the embedded system runs an in-process event bus, there is no RabbitMQ to observe (use --target local)",
        .replicaControl: "the embedded system runs one instance of each service in one process, there are no replicas to kill (use --target local)",
        .prometheus: "no Prometheus runs with the embedded system (use --target local)",
        .alertmanager: "no Alertmanager runs with the embedded system (use --target local)",
        .autoscaler: "the embedded system has one instance per service and no autoscaler (use --target local or kubernetes)",
        .contracts: "the OpenAPI documents were not found (pass --contracts-dir)",
        .signingKey: "the JWT secret of the attached system is unknown (pass --jwt-secret)",
    ]

    public func prepare() async throws {
        var endpoints = TargetEndpoints(contracts: self.configuration.contracts, admin: self.configuration.admin, missingReasons: Self.missing)
        if let baseURL = self.configuration.baseURL {
            endpoints.baseURL = baseURL
            endpoints.signingKey = self.configuration.signingKey
            self.state.withLock { $0.endpoints = endpoints }
            do {
                try await Self.waitUntilServing(baseURL, timeout: .seconds(10), child: nil)
            } catch {
                throw TargetNotReady("\(error)")
            }
            return
        }
        guard let binary = self.configuration.binary, FileManager.default.isExecutableFile(atPath: binary) else {
            throw TargetError(
                "no bookstore binary at \(self.configuration.binary ?? "(none)"): build it with `swift build --product bookstore` "
                    + "or pass --bookstore-bin, or attach with --base-url"
            )
        }
        let ports = try FreePort.allocate(5)
        let secret = "conformance-" + (0..<4).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "") }.joined()
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"].contains($0.key) }
        environment.merge([
            "GATEWAY_PORT": String(ports[0]), "USERS_PORT": String(ports[1]), "PAYMENTS_PYTHON_PORT": String(ports[2]),
            "PAYMENTS_JAVA_PORT": String(ports[3]), "REVIEWS_PORT": String(ports[4]), "HOST": "127.0.0.1",
            "JWT_SECRET": secret, "ADMIN_USERNAME": self.configuration.admin.username, "ADMIN_PASSWORD": self.configuration.admin.password,
            "PAYMENT_PROCESSING_MS": "0", "PAYMENT_SUCCESS_RATE": "0.7", "LOGIN_RATE_LIMIT_BURST": "100",
            "LOGIN_RATE_LIMIT_PER_MINUTE": "600", "BCRYPT_COST": "6", "LOG_LEVEL": "warning", "ACCESS_LOG": "false",
        ]) { _, new in new }
        environment.merge(self.configuration.environment) { _, new in new }
        let logPath = self.configuration.logPath ?? NSTemporaryDirectory() + "conformance-embedded-\(ports[0]).log"
        self.logPathState.withLock { $0 = logPath }
        let child = try ChildProcess(executable: binary, arguments: ["up"], environment: environment, logPath: logPath)
        self.state.withLock { $0.child = child }
        let baseURL = "http://127.0.0.1:\(ports[0])"
        do {
            try await Self.waitUntilServing(baseURL, timeout: self.configuration.startupTimeout, child: child)
        } catch {
            await child.terminate(grace: .seconds(5))
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(15).joined(separator: "\n")
            throw TargetError("\(error)\n--- last lines of \(logPath):\n\(tail)")
        }
        endpoints.baseURL = baseURL
        endpoints.serviceURLs = [
            "users": "http://127.0.0.1:\(ports[1])", "payments-python": "http://127.0.0.1:\(ports[2])",
            "payments-java": "http://127.0.0.1:\(ports[3])", "reviews": "http://127.0.0.1:\(ports[4])",
        ]
        endpoints.signingKey = SigningKey(secret: environment["JWT_SECRET"] ?? secret, algorithm: environment["JWT_ALGORITHM"])
        self.state.withLock { $0.endpoints = endpoints }
    }

    public func release() async {
        let child = self.state.withLock { state -> ChildProcess? in
            defer { state.child = nil }
            return state.child
        }
        await child?.terminate(grace: .seconds(10))
        // A log of our own choosing is temporary; one the caller named is kept.
        if child != nil, self.configuration.logPath == nil, let path = self.logPath {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Waits until the gateway and the three smoke routes answer 200.
    static func waitUntilServing(_ baseURL: String, timeout: Duration, child: ChildProcess?) async throws {
        let driver = HTTPDriver(client: ConformanceHTTP.client, baseURL: baseURL, evidence: nil, timeout: .seconds(2))
        let paths = [
            "/actuator/health/readiness", "/api/users/health", "/api/payments-python/health", "/api/payments-java/actuator/health",
            "/api/reviews/health",
        ]
        var lastProblem = "no answer yet"
        let ready = try await Polling.until(budget: timeout, interval: .milliseconds(200)) { () -> Bool? in
            if let child, !child.isRunning {
                throw TargetError("bookstore exited with status \(child.exitStatus ?? -1) before it was ready")
            }
            for path in paths {
                do {
                    let response = try await driver.get(path)
                    guard response.status == 200 else {
                        lastProblem = "GET \(path) answered \(response.status)"
                        return nil
                    }
                } catch {
                    lastProblem = "\(error)"
                    return nil
                }
            }
            return true
        }
        guard ready != nil else {
            throw TargetError("the system at \(baseURL) was not ready within \(Int(timeout.asSeconds)) s: \(lastProblem)")
        }
    }

    /// The `bookstore` binary next to this executable, else under `.build/debug` of the current directory.
    public static func defaultBinary(executablePath: String = CommandLine.arguments.first ?? "") -> String? {
        let sibling = URL(fileURLWithPath: executablePath).standardizedFileURL.deletingLastPathComponent().appendingPathComponent("bookstore").path
        let candidates = [sibling, FileManager.default.currentDirectoryPath + "/.build/debug/bookstore"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
