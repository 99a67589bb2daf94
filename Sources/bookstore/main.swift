import ArgumentParser
import AsyncHTTPClient
import BookstoreCore
import BookstoreRuntime
import Foundation
import JSONKit
import LocalCluster
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import UnixSignals

@main
struct Bookstore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookstore",
        abstract: "The bookstore services: run one (`serve`) or all of them in one process (`up`).",
        subcommands: [Up.self, Serve.self, Cluster.self]
    )
}

struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Address to listen on.")
    var host: String?

    @Option(name: .customLong("set"), help: "A setting KEY=VALUE that overrides the environment (repeatable).")
    var settings: [String] = []

    func makeSettings(port: Int? = nil) throws -> Settings {
        var overrides: [String: String] = [:]
        for entry in self.settings {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--set expects KEY=VALUE, got \(entry)")
            }
            overrides[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        if let host { overrides["HOST"] = host }
        if let port { overrides["PORT"] = String(port) }
        return Settings(environment: ProcessInfo.processInfo.environment, overrides: overrides)
    }
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run all five services in one process (embedded mode).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let settings = try self.options.makeSettings()
        let logger = bootstrapLogging(settings: settings, label: "bookstore")
        do {
            try await Runtime.up(settings: settings, logger: logger) { urls in
                var lines = ["", "Bookstore is up (embedded mode, in-memory stores, in-process event bus):"]
                for (kind, url) in urls { lines.append("  \(kind.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(url)") }
                lines.append("Try: curl \(urls.first { $0.0 == .gateway }?.1 ?? "")/api/users/health   (Ctrl-C stops)")
                lines.append("")
                FileHandle.standardError.write(Data(lines.joined(separator: "\n").utf8))
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one service, configured from the environment and flags.")

    @Argument(help: "One of: \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var service: String

    @Option(name: .long, help: "Port to listen on (overrides PORT).")
    var port: Int?

    @OptionGroup var options: CommonOptions

    func run() async throws {
        guard let kind = ServiceKind(rawValue: self.service) else {
            throw ValidationError("unknown service \(self.service); expected one of \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let settings = try self.options.makeSettings(port: self.port)
        let logger = bootstrapLogging(settings: settings, label: kind.rawValue)
        do {
            try await Runtime.serve(kind, settings: settings, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

func bootstrapLogging(settings: Settings, label: String) -> Logger {
    let level = Logger.Level(rawValue: settings.string("LOG_LEVEL", default: "info").lowercased()) ?? .info
    LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    return Logger(label: label)
}

struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The local cluster: every service as separate processes, supervised (see ci/local-cluster).",
        subcommands: [ClusterUp.self, ClusterStatus.self, ClusterControl.self, ClusterScale.self, ClusterAutoscalers.self]
    )
}

struct ClusterUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the replicas on real infrastructure (settings from the environment, e.g. .data/infra.env) and supervise them."
    )

    @Option(help: "Replicas of each backend service.") var replicas = 2
    @Option(help: "Replicas of the gateway (the first listens on 8080).") var gatewayReplicas = 1
    @Option(help: "Port of the control API on 127.0.0.1.") var controlPort = 7070
    @Option(help: "Folder for replica logs and generated files.") var dataDirectory = ".data/cluster"
    @Flag(help: "Use in-memory stores and a per-process bus instead of PostgreSQL, MongoDB and RabbitMQ.") var memory = false
    @Option(help: "Kubernetes manifests whose HorizontalPodAutoscalers the local autoscaler follows.") var manifests = "k8s"
    @Option(help: "Services the local autoscaler scales (comma-separated; empty: none).")
    var autoscale = "users,payments-python,payments-java,reviews"
    @Option(help: "The local autoscaler's sync period in seconds (Kubernetes: 15).") var autoscalerSyncSeconds = 15

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = Settings(environment: environment)
        let logger = bootstrapLogging(settings: settings, label: "local-cluster")
        var shared = environment.filter { key, _ in
            key.hasPrefix("POSTGRES_") || key.hasPrefix("RABBITMQ_") || key.hasPrefix("MONGO_") || key.hasPrefix("JWT_")
                || key.hasPrefix("PAYMENT_") || key.hasPrefix("ADMIN_") || key.hasPrefix("LOGIN_") || key.hasPrefix("GATEWAY_")
                || key.hasPrefix("BOOKSTORE_") || ["LOG_LEVEL", "ACCESS_LOG", "BCRYPT_COST", "SHUTDOWN_DRAIN_SECONDS"].contains(key)
        }
        shared["JWT_SECRET"] = shared["JWT_SECRET"] ?? Runtime.embeddedDevelopmentSecret
        shared["ADMIN_USERNAME"] = shared["ADMIN_USERNAME"] ?? "admin"
        shared["ADMIN_PASSWORD"] = shared["ADMIN_PASSWORD"] ?? "admin123"
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let configuration = ClusterConfiguration(
            // CLUSTER_REPLICA_BIN: another build to run the replicas with (ci/mutation-score runs bookstore-faults).
            binary: environment["CLUSTER_REPLICA_BIN"]
                ?? (FileManager.default.isExecutableFile(atPath: binary) ? binary : (environment["BOOKSTORE_BIN"] ?? binary)),
            dataDirectory: URL(fileURLWithPath: self.dataDirectory).standardizedFileURL.path,
            controlPort: self.controlPort,
            replicas: [
                .gateway: self.gatewayReplicas, .users: self.replicas, .paymentsPython: self.replicas, .paymentsJava: self.replicas,
                .reviews: self.replicas,
            ],
            environment: shared,
            prometheusTargetsDirectory: environment["PROMETHEUS_TARGETS_DIR"],
            useRealInfrastructure: !self.memory,
            autoscaling: try self.autoscaling()
        )
        let cluster = LocalClusterService(configuration: configuration, logger: logger) { port in
            FileHandle.standardError.write(Data("Local cluster control API on http://127.0.0.1:\(port) (bookstore cluster status)\n".utf8))
        }
        let group = ServiceGroup(configuration: .init(services: [cluster], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The HPAs of `--manifests` for the services of `--autoscale`; nil when no service is autoscaled.
    func autoscaling() throws -> AutoscalingConfiguration? {
        let names = self.autoscale.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { return nil }
        var services: Set<ServiceKind> = []
        for name in names {
            guard let kind = ServiceKind(rawValue: name) else {
                throw ValidationError(
                    "--autoscale: unknown service \(name) (expected \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            services.insert(kind)
        }
        guard (1...300).contains(self.autoscalerSyncSeconds) else { throw ValidationError("--autoscaler-sync-seconds must be 1...300") }
        let manifests: KubernetesManifests
        do {
            manifests = try KubernetesManifests.load(directory: self.manifests)
        } catch {
            throw ValidationError("--manifests \(self.manifests): \(error) (pass --autoscale '' to run without the autoscaler)")
        }
        return AutoscalingConfiguration(manifests: manifests, services: services, syncPeriod: .seconds(self.autoscalerSyncSeconds))
    }
}

/// Talks to a running cluster's control API.
struct ControlClient {
    let base: String

    func call(_ method: HTTPMethod, _ path: String) async throws -> JSON {
        try await HTTPClient.withHTTPClient { client in
            var request = HTTPClientRequest(url: self.base + path)
            request.method = method
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = (try? JSON.parse(Array(buffer: body))) ?? .null
            guard response.status.code < 300 else { throw ValidationError(json["error"]?.stringValue ?? "HTTP \(response.status.code)") }
            return json
        }
    }
}

struct ControlOptions: ParsableArguments {
    @Option(help: "The control API.") var control = "http://127.0.0.1:7070"
}

struct ClusterStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the replicas.")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let replicas = try await ControlClient(base: self.options.control).call(.GET, "/replicas")
        print("REPLICA              PORT   PID      STATUS    RESTARTS")
        func column(_ value: JSON?, _ width: Int) -> String {
            let text: String = value == nil || value == .null ? "-" : (value?.stringValue ?? value?.description ?? "-")
            return text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        for replica in replicas.arrayValue ?? [] {
            let line: String =
                column(replica["id"], 20) + " " + column(replica["port"], 6) + " " + column(replica["pid"], 8) + " "
                + column(replica["status"], 9) + " " + column(replica["restarts"], 4)
            print(line)
        }
    }
}

struct ClusterControl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "kill (SIGKILL, restarted by the supervisor), stop (SIGTERM, stays down) or start one replica."
    )
    @Argument(help: "kill, stop or start") var action: String
    @Argument(help: "Replica id, e.g. users-1") var id: String
    @OptionGroup var options: ControlOptions

    func run() async throws {
        guard ["kill", "stop", "start"].contains(self.action) else { throw ValidationError("action must be kill, stop or start") }
        print(try await ControlClient(base: self.options.control).call(.POST, "/replicas/\(self.id)/\(self.action)").text)
    }
}

struct ClusterScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Set the number of replicas of a service.")
    @Argument(help: "Service: users, payments-python, payments-java, reviews, gateway") var service: String
    @Argument(help: "Replicas (0...20)") var replicas: Int
    @OptionGroup var options: ControlOptions

    func run() async throws {
        print(try await ControlClient(base: self.options.control).call(.POST, "/services/\(self.service)/scale?replicas=\(self.replicas)").text)
    }
}

struct ClusterAutoscalers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hpa",
        abstract: "The local autoscaler's HorizontalPodAutoscalers, like kubectl get hpa."
    )
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let list = try await ControlClient(base: self.options.control).call(.GET, "/autoscalers")
        print("NAME                         REFERENCE                         TARGETS              MINPODS  MAXPODS  REPLICAS  DESIRED")
        for item in list["items"]?.arrayValue ?? [] {
            let spec = item["spec"]
            let status = item["status"]
            let targets = (spec?["metrics"]?.arrayValue ?? []).map { metric -> String in
                let name = metric["resource"]?["name"]?.stringValue ?? "?"
                let current = (status?["currentMetrics"]?.arrayValue ?? []).first { $0["resource"]?["name"]?.stringValue == name }
                let seen = current?["resource"]?["current"]?["averageUtilization"]?.intValue.map { "\($0)%" } ?? "<unknown>"
                return "\(name): \(seen)/\(metric["resource"]?["target"]?["averageUtilization"]?.intValue ?? 0)%"
            }
            let columns: [(String, Int)] = [
                (item["metadata"]?["name"]?.stringValue ?? "?", 28),
                ("Deployment/" + (spec?["scaleTargetRef"]?["name"]?.stringValue ?? "?"), 33),
                (targets.joined(separator: ", "), 20),
                (String(spec?["minReplicas"]?.intValue ?? 0), 8),
                (String(spec?["maxReplicas"]?.intValue ?? 0), 8),
                (String(status?["currentReplicas"]?.intValue ?? 0), 9),
                (String(status?["desiredReplicas"]?.intValue ?? 0), 7),
            ]
            print(columns.map { $0.0.padding(toLength: max($0.1, $0.0.count), withPad: " ", startingAt: 0) }.joined(separator: " "))
        }
    }
}
