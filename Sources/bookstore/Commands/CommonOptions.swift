import ArgumentParser
import BookstoreCore
import Foundation

/// The options of the commands that run services: `--host` and `--set KEY=VALUE`.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Address to listen on.")
    var host: String?

    @Option(name: .customLong("set"), help: "A setting KEY=VALUE that overrides the environment (repeatable).")
    var settings: [String] = []

    /// The environment with the flags on top.
    func makeSettings(port: Int? = nil) throws -> Settings {
        var overrides: [String: String]
        do {
            overrides = try Settings.assignments(self.settings)
        } catch {
            throw ValidationError("--set \(error.description)")
        }
        if let host { overrides["HOST"] = host }
        if let port { overrides["PORT"] = String(port) }
        return Settings(environment: ProcessInfo.processInfo.environment, overrides: overrides)
    }
}
