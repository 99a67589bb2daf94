import BookstoreCore
import BookstoreRuntime
import Foundation

/// How the local cluster runs: the `bookstore` binary to start, replica counts, the shared environment of every
/// replica, where logs and generated files go, and the control API's port.
public struct ClusterConfiguration: Sendable {
    public var binary: String
    public var dataDirectory: String
    public var controlPort: Int
    public var replicas: [ServiceKind: Int]
    /// Environment given to every replica (connection settings, JWT secret, …), before per-replica values.
    public var environment: [String: String]
    /// Where Prometheus file_sd target files are written (`PROMETHEUS_TARGETS_DIR`), if Prometheus runs.
    public var prometheusTargetsDirectory: String?
    /// Whether services use the real adapters (`STORAGE`, `EVENT_BUS`) or the in-memory ones.
    public var useRealInfrastructure: Bool
    public var restartBackoff: RetryPolicy
    /// The local stand-in for the HorizontalPodAutoscalers of `k8s/`; nil: replica counts change only on request.
    public var autoscaling: AutoscalingConfiguration?
    /// Stops and starts the infrastructure for the control API's `/dependencies`; nil: those answer 501.
    public var dependencies: DependencyControl?

    public init(
        binary: String,
        dataDirectory: String,
        controlPort: Int = 7070,
        replicas: [ServiceKind: Int] = [.gateway: 1, .users: 2, .paymentsPython: 2, .paymentsJava: 2, .reviews: 2],
        environment: [String: String] = [:],
        prometheusTargetsDirectory: String? = nil,
        useRealInfrastructure: Bool = true,
        restartBackoff: RetryPolicy = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(500), maxDelay: .seconds(10)),
        autoscaling: AutoscalingConfiguration? = nil,
        dependencies: DependencyControl? = nil
    ) {
        self.binary = binary
        self.dataDirectory = dataDirectory
        self.controlPort = controlPort
        self.replicas = replicas
        self.environment = environment
        self.prometheusTargetsDirectory = prometheusTargetsDirectory
        self.useRealInfrastructure = useRealInfrastructure
        self.restartBackoff = restartBackoff
        self.autoscaling = autoscaling
        self.dependencies = dependencies
    }

    /// The environment of one replica.
    func environment(for replica: Replica, upstreamsFile: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"].contains(key)
        }
        environment.merge(self.environment) { _, new in new }
        if self.useRealInfrastructure { environment.merge(replica.kind.clusterStorage) { _, new in new } }
        environment["SERVICE_NAME"] = replica.serviceName
        environment["PORT"] = String(replica.port)
        environment["HOST"] = "127.0.0.1"
        environment["REPLICA_ID"] = replica.id
        environment["LOG_LEVEL"] = environment["LOG_LEVEL"] ?? "info"
        if replica.kind == .gateway {
            environment["UPSTREAMS_FILE"] = upstreamsFile
        } else if environment["TRUSTED_PROXIES"] == nil {
            // The services sit behind the gateway, which connects from 127.0.0.1: its X-Forwarded-For names the client.
            environment["TRUSTED_PROXIES"] = "127.0.0.1"
        }
        return environment
    }
}
