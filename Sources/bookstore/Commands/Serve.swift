import ArgumentParser
import BookstoreCore
import BookstoreRuntime

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one service, configured from the environment and flags.")

    @Argument(help: "One of: \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var service: String

    @Option(name: .long, help: "Port to listen on (overrides PORT).")
    var port: Int?

    @OptionGroup var options: CommonOptions

    func run() async throws {
        ProcessCPUs.sizeSharedEventLoops()
        guard let kind = ServiceKind(rawValue: self.service) else {
            throw ValidationError("unknown service \(self.service); expected one of \(ServiceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let settings = try self.options.makeSettings(port: self.port)
        let logger = Runtime.bootstrapLogging(settings: settings, label: kind.rawValue)
        do {
            try await Runtime.serve(kind, settings: settings, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
