import ArgumentParser
import BookstoreCore
import BookstoreRuntime
import Foundation
import LocalCluster
import ServiceLifecycle
import UnixSignals

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
        let logger = Runtime.bootstrapLogging(settings: settings, label: "local-cluster")
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
            environment: Runtime.sharedServiceEnvironment(environment),
            prometheusTargetsDirectory: environment["PROMETHEUS_TARGETS_DIR"],
            useRealInfrastructure: !self.memory,
            autoscaling: try self.autoscaling(),
            // CLUSTER_DEPENDENCY_COMMAND, e.g. `bash ci/infra`: lets the control API stop and start the infrastructure.
            dependencies: DependencyControl(command: environment["CLUSTER_DEPENDENCY_COMMAND"])
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
