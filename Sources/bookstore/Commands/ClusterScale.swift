import ArgumentParser
import JSONKit
import LocalCluster

struct ClusterScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Set the number of replicas of a service.")
    @Argument(help: "Service: users, payments-python, payments-java, reviews, gateway") var service: String
    @Argument(help: "Replicas (0...20)") var replicas: Int
    @OptionGroup var options: ControlOptions

    func run() async throws {
        print(try await self.options.withClient { try await $0.scale(self.service, replicas: self.replicas) }.text)
    }
}
