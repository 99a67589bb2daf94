import ArgumentParser
import LocalCluster

struct ClusterAutoscalers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hpa",
        abstract: "The local autoscaler's HorizontalPodAutoscalers, like kubectl get hpa."
    )
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let list = try await self.options.withClient { try await $0.autoscalers() }
        for line in ClusterTable.autoscalers(list) { print(line) }
    }
}
