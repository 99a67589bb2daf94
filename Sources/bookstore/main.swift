import ArgumentParser
import BookstoreCore
import BookstoreRuntime
import Foundation
import Logging

@main
struct Bookstore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookstore",
        abstract: "The bookstore services: run one (`serve`) or all of them in one process (`up`).",
        subcommands: [Up.self, Serve.self]
    )
}

struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Address to listen on.")
    var host: String?

    @Option(name: .customLong("set"), help: "A setting KEY=VALUE that overrides the environment (repeatable).")
    var settings: [String] = []

    func makeSettings(port: Int? = nil) throws -> Settings {
        var overrides: [String: String] = [:]
        for entry in self.settings {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--set expects KEY=VALUE, got \(entry)")
            }
            overrides[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        if let host { overrides["HOST"] = host }
        if let port { overrides["PORT"] = String(port) }
        return Settings(environment: ProcessInfo.processInfo.environment, overrides: overrides)
    }
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run all five services in one process (embedded mode).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let settings = try self.options.makeSettings()
        let logger = bootstrapLogging(settings: settings, label: "bookstore")
        do {
            try await Runtime.up(settings: settings, logger: logger) { urls in
                var lines = ["", "Bookstore is up (embedded mode, in-memory stores, in-process event bus):"]
                for (kind, url) in urls { lines.append("  \(kind.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(url)") }
                lines.append("Try: curl \(urls.first { $0.0 == .gateway }?.1 ?? "")/api/users/health   (Ctrl-C stops)")
                lines.append("")
                FileHandle.standardError.write(Data(lines.joined(separator: "\n").utf8))
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one service, configured from the environment and flags.")

    @Argument(help: "One of: \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var service: String

    @Option(name: .long, help: "Port to listen on (overrides PORT).")
    var port: Int?

    @OptionGroup var options: CommonOptions

    func run() async throws {
        guard let kind = ServiceKind(rawValue: self.service) else {
            throw ValidationError("unknown service \(self.service); expected one of \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let settings = try self.options.makeSettings(port: self.port)
        let logger = bootstrapLogging(settings: settings, label: kind.rawValue)
        do {
            try await Runtime.serve(kind, settings: settings, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

func bootstrapLogging(settings: Settings, label: String) -> Logger {
    let level = Logger.Level(rawValue: settings.string("LOG_LEVEL", default: "info").lowercased()) ?? .info
    LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    return Logger(label: label)
}
