import ArgumentParser
import BookstoreCore
import BookstoreRuntime
import Foundation

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run all five services in one process (embedded mode).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        ProcessCPUs.sizeSharedEventLoops()
        let settings = try self.options.makeSettings()
        let logger = Runtime.bootstrapLogging(settings: settings, label: "bookstore")
        do {
            try await Runtime.up(settings: settings, logger: logger) { urls in
                FileHandle.standardError.write(Data(Runtime.upBanner(urls).utf8))
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
