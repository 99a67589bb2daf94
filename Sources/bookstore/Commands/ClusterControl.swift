import ArgumentParser
import JSONKit
import LocalCluster

struct ClusterControl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "kill (SIGKILL, restarted by the supervisor), stop (SIGTERM, stays down), start, pause (SIGSTOP) or resume (SIGCONT) one replica."
    )
    @Argument(help: "kill, stop, start, pause or resume") var action: String
    @Argument(help: "Replica id, e.g. users-1") var id: String
    @OptionGroup var options: ControlOptions

    func run() async throws {
        guard ["kill", "stop", "start", "pause", "resume"].contains(self.action) else {
            throw ValidationError("action must be kill, stop, start, pause or resume")
        }
        print(try await self.options.withClient { try await $0.replica(self.id, self.action) }.text)
    }
}
