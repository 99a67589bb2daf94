import ArgumentParser
import ConformanceKit
import Foundation

@main
struct Conformance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Black-box conformance checks of the bookstore contracts against a target (SPEC §9).",
        subcommands: [List.self, Run.self]
    )
}

extension Suite: ExpressibleByArgument {}
extension TargetOptions.Kind: ExpressibleByArgument {}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the checks of the catalogue.")

    @Option(name: .long, help: "Only this suite (repeatable): \(Suite.allCases.map(\.rawValue).joined(separator: ", ")).")
    var suite: [Suite] = []

    func run() throws {
        let checks = try Catalogue.select(suites: Set(self.suite))
        for check in checks {
            let needs = check.requirements.sorted().map(\.rawValue).joined(separator: ",")
            print(
                "\(check.id.padding(toLength: 44, withPad: " ", startingAt: 0)) \(check.suite.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) [\(needs)] \(check.summary)"
            )
        }
        print("\(checks.count) checks")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run checks against a target and write JUnit XML and a Markdown summary; exits 1 on any failure."
    )

    @Option(help: "embedded (spawn `bookstore up`, or attach with --base-url), local (the local cluster) or kubernetes (kubectl).")
    var target: TargetOptions.Kind = .embedded

    @Option(help: "The gateway's base URL (attach instead of spawning / port-forwarding).")
    var baseURL: String?

    @Option(name: .long, help: "Only this suite (repeatable).")
    var suite: [Suite] = []

    @Option(name: .long, help: "Only this check id (repeatable).")
    var check: [String] = []

    @Option(help: "Write JUnit XML here.")
    var junit: String?

    @Option(help: "Write the Markdown summary here (default: beside the JUnit file, .md).")
    var markdown: String?

    @Option(help: "The JWT secret of the target (enables the expired-token checks).")
    var jwtSecret: String?

    @Option(help: "The JWT algorithm of the target (default: read from a token it issues).")
    var jwtAlgorithm: String?

    @Option(help: "The bookstore binary the embedded target spawns (default: next to this executable, or .build/debug/bookstore).")
    var bookstoreBin: String?

    @Option(help: "embedded: keep the spawned system's output in this file (default: a temporary file, deleted).")
    var embeddedLog: String?

    @Option(help: "The folder of the OpenAPI documents (default: Conformance/contracts found from here).")
    var contractsDir: String?

    @Option(help: "Admin user for the admin-only operations.")
    var adminUsername = "admin"

    @Option(help: "Admin password.")
    var adminPassword = "admin123"

    @Option(help: "local: the control API of the cluster.")
    var controlURL: String?

    @Option(help: "The RabbitMQ management API (default: $RABBITMQ_MANAGEMENT_URL).")
    var rabbitmqManagementURL: String?

    @Option(help: "RabbitMQ management user (default: $RABBITMQ_USER, else guest).")
    var rabbitmqUser: String?

    @Option(help: "RabbitMQ management password (default: $RABBITMQ_PASS, else guest).")
    var rabbitmqPassword: String?

    @Option(help: "Prometheus (default: $PROMETHEUS_URL).")
    var prometheusURL: String?

    @Option(help: "Alertmanager (default: $ALERTMANAGER_URL).")
    var alertmanagerURL: String?

    @Option(help: "kubernetes: the kubectl executable.")
    var kubectl = "kubectl"

    @Option(help: "kubernetes: the kubeconfig context.")
    var context: String?

    @Option(help: "kubernetes: the namespace.")
    var namespace = "bookstore"

    @Option(
        help:
            "contracts: the most failed logins from one client the target may answer 401 before a 429 (its login limit's burst over all replicas plus what refills meanwhile)."
    )
    var loginAttempts = 1_000

    @Option(help: "failover: the service whose replica is killed.")
    var failoverService = "reviews"

    @Option(help: "failover: requests per second through the gateway.")
    var failoverRate: Double = 50

    @Option(help: "failover: seconds of load.")
    var failoverSeconds: Int = 15

    @Option(help: "alerts: the service stopped to make ServiceDown fire.")
    var alertService = "reviews"

    @Option(help: "alerts: seconds added to the budgets derived from the Prometheus configuration.")
    var alertSlackSeconds: Int = 20

    @Option(help: "autoscaling: the service whose HPA is watched.")
    var autoscalingService = "gateway"

    @Option(help: "autoscaling: requests per second of the scale-up load at its start.")
    var autoscalingRate: Double = 200

    @Option(
        help: """
            autoscaling: while desired replicas stay, the load grows 1.5× per sync period plus metrics lag, up to this \
            rate (default: 4 × --autoscaling-rate).
            """
    )
    var autoscalingMaxRate: Double?

    @Option(help: "autoscaling: the gateway path loaded with GETs (default: a read route of the service).")
    var autoscalingPath: String?

    @Option(help: "autoscaling: the HPA controller's sync period in seconds (Kubernetes: 15).")
    var autoscalingSyncSeconds: Int = 15

    @Option(help: "autoscaling: seconds resource metrics take to show a load (metrics-server: ~60; the local cluster: one sync).")
    var autoscalingMetricsLagSeconds: Int = 60

    @Option(help: "autoscaling: seconds added to the budgets derived from the HPA spec.")
    var autoscalingSlackSeconds: Int = 60

    @Option(
        name: .customLong("service-url"),
        help:
            "A service's own base URL, NAME=URL (users, payments-python, payments-java, reviews; repeatable): enables the checks that call services directly."
    )
    var serviceURL: [String] = []

    @Flag(help: "Print each check's evidence as it finishes.")
    var verbose = false

    func validate() throws {
        guard self.autoscalingRate > 0, self.failoverRate > 0 else { throw ValidationError("rates must be above 0 requests per second") }
        if let maxRate = self.autoscalingMaxRate, maxRate < self.autoscalingRate {
            throw ValidationError("--autoscaling-max-rate must be at least --autoscaling-rate")
        }
        guard (1...300).contains(self.autoscalingSyncSeconds) else { throw ValidationError("--autoscaling-sync-seconds must be 1...300") }
        guard self.autoscalingMetricsLagSeconds >= 0, self.autoscalingSlackSeconds >= 0 else {
            throw ValidationError("--autoscaling-metrics-lag-seconds and --autoscaling-slack-seconds must not be negative")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let checks = try Catalogue.select(suites: Set(self.suite), ids: self.check)
        guard !checks.isEmpty else { throw ValidationError("no check selected") }
        let options = TargetOptions(
            kind: self.target,
            baseURL: self.baseURL,
            bookstoreBinary: self.bookstoreBin,
            embeddedLog: self.embeddedLog,
            contractsDirectory: self.contractsDir,
            jwtSecret: self.jwtSecret,
            jwtAlgorithm: self.jwtAlgorithm,
            adminUsername: self.adminUsername,
            adminPassword: self.adminPassword,
            controlURL: self.controlURL,
            rabbitManagementURL: self.rabbitmqManagementURL ?? (self.target == .embedded ? nil : environment["RABBITMQ_MANAGEMENT_URL"]),
            rabbitUser: self.rabbitmqUser ?? environment["RABBITMQ_USER"],
            rabbitPassword: self.rabbitmqPassword ?? environment["RABBITMQ_PASS"],
            prometheusURL: self.prometheusURL ?? (self.target == .embedded ? nil : environment["PROMETHEUS_URL"]),
            alertmanagerURL: self.alertmanagerURL ?? (self.target == .embedded ? nil : environment["ALERTMANAGER_URL"]),
            kubectl: self.kubectl,
            context: self.context,
            namespace: self.namespace,
            serviceURLs: try Self.serviceURLs(self.serviceURL)
        )
        let target = try options.makeTarget()
        FileHandle.standardError.write(Data("Preparing the \(self.target.rawValue) target…\n".utf8))
        // A target that is not ready is a finding, not a usage error: TARGET-READY fails, every check still runs and
        // the reports are written (exit 1). Only invalid usage exits 64.
        var readinessProblem: String?
        do {
            try await target.prepare()
        } catch let error as TargetNotReady {
            readinessProblem = error.message
        } catch {
            readinessProblem = "the \(self.target.rawValue) target could not be prepared: \(error)"
        }
        if let readinessProblem { FileHandle.standardError.write(Data("Target not ready: \(readinessProblem)\n".utf8)) }
        let endpoints = target.endpoints
        let offered = Capability.allCases.map { capability in
            target.capabilities.contains(capability) ? "+\(capability)" : "-\(capability)"
        }
        FileHandle.standardError.write(Data("Target \(target.name) at \(endpoints.baseURL ?? "?"): \(offered.joined(separator: " "))\n".utf8))
        var runOptions = RunOptions()
        runOptions.failoverService = self.failoverService
        runOptions.loginAttempts = self.loginAttempts
        runOptions.failoverRate = self.failoverRate
        runOptions.failoverDuration = .seconds(self.failoverSeconds)
        runOptions.alertService = self.alertService
        runOptions.alertSlack = .seconds(self.alertSlackSeconds)
        runOptions.autoscalingService = self.autoscalingService
        runOptions.autoscalingRate = self.autoscalingRate
        runOptions.autoscalingMaxRate = self.autoscalingMaxRate
        runOptions.autoscalingPath = self.autoscalingPath
        runOptions.autoscalingSyncPeriod = .seconds(self.autoscalingSyncSeconds)
        runOptions.autoscalingMetricsLag = .seconds(self.autoscalingMetricsLagSeconds)
        runOptions.autoscalingSlack = .seconds(self.autoscalingSlackSeconds)
        let verbose = self.verbose
        let report = await ConformanceRunner.run(checks, against: target, options: runOptions, readinessProblem: readinessProblem) {
            result in
            var line = "\(result.status.label.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)) \(result.id)"
            line += String(format: " (%.2f s)", Double(result.duration.components.seconds) + Double(result.duration.components.attoseconds) / 1e18)
            if let message = result.status.message { line += "\n         \(message)" }
            if verbose { line += "\n" + result.evidence.map(\.text).joined(separator: "\n") }
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        await target.release()
        print(
            "\n\(report.passed) passed, \(report.failed) failed, \(report.errored) errors, \(report.skipped) skipped "
                + "of \(report.results.count) checks against \(target.name)"
        )
        if let junit = self.junit {
            try Self.write(JUnitReport.render(report), to: junit)
            let markdown = self.markdown ?? (junit.hasSuffix(".xml") ? String(junit.dropLast(4)) : junit) + ".md"
            try Self.write(MarkdownReport.render(report), to: markdown)
            print("JUnit: \(junit)   summary: \(markdown)")
        } else if let markdown = self.markdown {
            try Self.write(MarkdownReport.render(report), to: markdown)
        }
        if !report.isSuccessful { throw ExitCode(1) }
    }

    /// `--service-url users=http://…` (repeatable) as a dictionary; an unknown service or a malformed entry is a usage error.
    static func serviceURLs(_ entries: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let known = ["users", "payments-python", "payments-java", "reviews"]
            guard parts.count == 2, known.contains(parts[0]), parts[1].hasPrefix("http") else {
                throw ValidationError("--service-url expects NAME=URL with NAME one of \(known.joined(separator: ", ")), got \(entry)")
            }
            result[parts[0]] = parts[1].hasSuffix("/") ? String(parts[1].dropLast()) : parts[1]
        }
        return result
    }

    static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
