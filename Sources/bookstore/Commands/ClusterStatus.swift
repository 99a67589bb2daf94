import ArgumentParser
import LocalCluster

struct ClusterStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the replicas.")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let replicas = try await self.options.withClient { try await $0.replicas() }
        for line in ClusterTable.replicas(replicas) { print(line) }
    }
}
