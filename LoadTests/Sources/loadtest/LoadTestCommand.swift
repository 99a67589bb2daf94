import ArgumentParser
import Foundation
import LoadTestKit

@main
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Drive HTTP load from a scenario and report latency percentiles, with thresholds that fail the run.",
        discussion: """
            Exit status: 0 when every threshold holds, 1 when a threshold fails (or a request never succeeds), \
            2 for an invalid scenario or option, 3 when a setup step fails.
            """,
        subcommands: [RunCommand.self, ValidateCommand.self]
    )
}

/// Exit codes.
enum ExitStatus {
    static let thresholdFailed = ExitCode(1)
    static let invalid = ExitCode(2)
    static let setupFailed = ExitCode(3)
}
