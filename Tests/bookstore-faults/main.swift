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
        subcommands: [List.self, Up.self, Serve.self, Rules.self, Manifests.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the catalogue: name, service, checks that must fail, summary, stage (tab-separated)."
        )

        @Option(help: "Only the faults of this stage: embedded (HTTP seams, `up`) or cluster (messaging seams, `serve`).")
        var stage: String?

        func run() {
            for fault in FaultCatalogue.all where self.stage == nil || fault.stage == self.stage {
                print([fault.name, fault.service, fault.checks.joined(separator: ","), fault.summary, fault.stage].joined(separator: "\t"))
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

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one service (as `bookstore serve`) with the fault named by BOOKSTORE_FAULT planted when it is that service's."
        )

        /// The replica-that-never-returns defect: a marker per supervisor (the parent process) and replica id records
        /// the first start; every later start of that replica exits with status 1 at once.
        static func exitIfStartedBefore(logger: Logger) throws {
            let replica = ProcessInfo.processInfo.environment["REPLICA_ID"] ?? "replica"
            let marker = FileManager.default.temporaryDirectory.appendingPathComponent("bookstore-faults-\(getppid())-\(replica).started").path
            if FileManager.default.fileExists(atPath: marker) {
                logger.error("Planted defect: this replica never starts again")
                Foundation.exit(1)
            }
            _ = FileManager.default.createFile(atPath: marker, contents: nil)
        }

        @Argument(help: "gateway, users, payments-python, payments-java or reviews")
        var service: String

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            var settings = Settings(environment: environment)
            let level = Logger.Level(rawValue: settings.string("LOG_LEVEL", default: "info").lowercased()) ?? .info
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
            guard let kind = ServiceKind(rawValue: self.service) else { throw ValidationError("unknown service \(self.service)") }
            let logger = Logger(label: "bookstore-faults")
            let name = environment["BOOKSTORE_FAULT"] ?? "none"
            guard name != "none" else { return try await Runtime.serve(kind, settings: settings, logger: logger) }
            guard let fault = FaultCatalogue.named(name) else {
                throw ValidationError("unknown fault \(name); `bookstore-faults list` prints the catalogue")
            }
            if settings["SERVICE_NAME"] == fault.service {
                settings = settings.with(fault.settings)
                if fault.startsOnce { try Self.exitIfStartedBefore(logger: logger) }
            }
            let secret = settings.string("JWT_SECRET", default: Runtime.embeddedDevelopmentSecret)
            let tokens = TokenService(settings: try TokenSettings(settings: settings.withDefaults(["JWT_SECRET": secret])))
            let resends = fault.resendsEveryFailedRequest && settings["SERVICE_NAME"] == fault.service
            try await MiddlewareSeam.$outermost.withValue(fault.provider(tokens: tokens)) {
                try await EventBusSeam.$wrap.withValue(fault.busProvider) {
                    try await RetrySeam.$resendsEveryFailedRequest.withValue(resends) {
                        try await Runtime.serve(kind, settings: settings, logger: logger)
                    }
                }
            }
        }
    }

    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a Prometheus rules file from standard input to standard output with the fault's alert rules planted."
        )

        @Option(help: "The fault (see `list`) or `none`; `none` and a fault without alert rules copy the file unchanged.")
        var fault: String

        func run() throws {
            var rules: [String: String] = [:]
            if self.fault != "none" {
                guard let fault = FaultCatalogue.named(self.fault) else {
                    throw ValidationError("unknown fault \(self.fault); `bookstore-faults list` prints the catalogue")
                }
                rules = fault.alertRules
            }
            var input = ""
            while let line = readLine(strippingNewline: false) { input += line }
            print(try AlertRuleRewrite.replacingExpressions(rules, in: input), terminator: "")
        }
    }

    struct Manifests: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plant the fault's defects in a copy of the Kubernetes manifests (in place); print the files rewritten."
        )

        @Option(help: "The fault (see `list`) or `none`.")
        var fault: String

        @Option(help: "The folder of the copy (a copy of k8s/).")
        var directory: String

        func run() throws {
            guard self.fault != "none" else { return }
            guard let fault = FaultCatalogue.named(self.fault) else {
                throw ValidationError("unknown fault \(self.fault); `bookstore-faults list` prints the catalogue")
            }
            for (file, rewrite) in fault.manifests.sorted(by: { $0.key < $1.key }) {
                let path = URL(fileURLWithPath: self.directory).appendingPathComponent(file).path
                guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("no manifest \(path)") }
                let rewritten = rewrite(String(decoding: data, as: UTF8.self))
                guard FileManager.default.createFile(atPath: path, contents: Data(rewritten.utf8)) else {
                    throw ValidationError("cannot write \(path)")
                }
                print(file)
            }
        }
    }
}
