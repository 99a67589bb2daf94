import ArgumentParser
import BookstoreCore
import BookstoreRuntime
import FaultInjection
import Foundation
import Logging

/// The test-only twin of `bookstore up` with one planted defect (issue 10). The production `bookstore` binary
/// contains none of this code: faults live in the `FaultInjection` library, planted through `MiddlewareSeam`.
@main
struct BookstoreFaults: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookstore-faults",
        abstract: "The embedded system with one planted defect, for ci/mutation-score.",
        subcommands: [List.self, Up.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the catalogue: name, service, checks that must fail, summary (tab-separated)."
        )

        func run() {
            for fault in FaultCatalogue.all {
                print([fault.name, fault.service, fault.checks.joined(separator: ","), fault.summary].joined(separator: "\t"))
            }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the embedded system (as `bookstore up`) with one fault, or none.")

        @Option(help: "The fault to plant (see `list`), or `none` for the unmutated system.")
        var fault: String

        func run() async throws {
            let settings = Settings(environment: ProcessInfo.processInfo.environment)
            let logger = Runtime.bootstrapLogging(settings: settings, label: "bookstore-faults", defaultLevel: .warning)
            let ready: @Sendable ([(ServiceKind, String)]) -> Void = { _ in
                FileHandle.standardError.write(Data("Bookstore is up with fault \(self.fault)\n".utf8))
            }
            guard self.fault != "none" else {
                try await Runtime.up(settings: settings, logger: logger, onReady: ready)
                return
            }
            guard let fault = FaultCatalogue.named(self.fault) else {
                throw ValidationError("unknown fault \(self.fault); `bookstore-faults list` prints the catalogue")
            }
            let secret = settings.string("JWT_SECRET", default: Runtime.embeddedDevelopmentSecret)
            let tokens = TokenService(settings: try TokenSettings(settings: settings.withDefaults(["JWT_SECRET": secret])))
            try await MiddlewareSeam.$outermost.withValue(fault.provider(tokens: tokens)) {
                try await Runtime.up(settings: settings, logger: logger, onReady: ready)
            }
        }
    }
}
