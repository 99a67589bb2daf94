import ArgumentParser
import LocalCluster

struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The local cluster: every service as separate processes, supervised (see ci/local-cluster).",
        subcommands: [ClusterUp.self, ClusterStatus.self, ClusterControl.self, ClusterScale.self, ClusterAutoscalers.self]
    )
}

/// The options of the commands that talk to a running cluster.
struct ControlOptions: ParsableArguments {
    @Option(help: "The control API.") var control = "http://127.0.0.1:7070"

    /// Runs `operation` with a client of the control API; its refusals become validation errors.
    func withClient<T>(_ operation: (ClusterControlClient) async throws -> T) async throws -> T {
        do {
            return try await operation(ClusterControlClient(base: self.control))
        } catch let error as ClusterControlError {
            throw ValidationError(error.description)
        }
    }
}
