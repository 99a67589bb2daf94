import ArgumentParser
import JSONKit
import LocalCluster

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
        print(try await self.options.withClient { try await $0.replica(self.id, self.action) }.text)
    }
}
