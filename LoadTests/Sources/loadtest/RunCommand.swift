import ArgumentParser
import Dispatch
import Foundation
import LoadTestKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario (a YAML/JSON file, or an http:// URL for a single GET).",
        discussion: """
            --rate selects the open model (latency counted from each request's intended send time); --connections the \
            closed model. Every run ends by itself after --duration or --max-requests, whichever comes first, plus at \
            most the request timeout to drain.
            """
    )

    @Argument(help: "Scenario file (.yaml, .yml, .json), or a URL such as http://127.0.0.1:8080/api/health.")
    var scenario: String

    @Option(name: .customLong("base-url"), help: "Base URL (overrides the scenario's).")
    var baseURL: String?

    @Option(help: "Open model: requests per second.")
    var rate: Double?

    @Option(help: "Closed model: connections sending back to back.")
    var connections: Int?

    @Option(name: .customLong("max-connections"), help: "Open model: connection pool cap (default: sized from the rate).")
    var maxConnections: Int?

    @Option(help: "How long the load runs, e.g. 30s, 2m.")
    var duration: String?

    @Option(name: .customLong("max-requests"), help: "The most requests to send.")
    var maxRequests: Int?

    @Option(help: "Request timeout counted from the intended send time, e.g. 5s.")
    var timeout: String?

    @Option(name: .customLong("threshold"), help: "A threshold such as p95<300ms, error_rate<1%, rps>500 (repeatable).")
    var thresholds: [String] = []

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Connections: 'sockets' (the engine's own epoll loops; default on Linux) or 'nio' (SwiftNIO channels).")
    var transport: String?

    @Option(name: .customLong("late-threshold"), help: "A send this late after its intended time counts as late (default 5ms).")
    var lateThreshold: String?

    @Option(help: "Seed for the request mix and templates.")
    var seed: UInt64?

    @Option(help: "Write JUnit XML here.")
    var junit: String?

    @Option(help: "Write the JSON result here.")
    var json: String?

    @Option(help: "Write the HDR percentile distribution (.hgrm, corrected) here; the service time goes to NAME.service.hgrm.")
    var hgrm: String?

    @Option(name: .customLong("plot-dir"), help: "Write latency-over-time.svg and percentiles.svg here.")
    var plotDirectory: String?

    @Flag(name: .customLong("record-outcomes"), help: "Include every request's outcome in the JSON result.")
    var recordsOutcomes = false

    @Flag(help: "Print only the result line.")
    var quiet = false

    func run() async throws {
        let scenario = try loadScenario()
        let overrides = try makeOverrides()
        raiseOpenFileLimit()
        let showsProgress = isatty(STDOUT_FILENO) == 1 && !quiet
        let progress: (@Sendable (LoadProgress) -> Void)? =
            showsProgress
            ? { @Sendable update in
                FileHandle.standardOutput.write(Data(("\r" + ProgressLine.render(update) + "\u{1B}[K").utf8))
            } : nil
        let startDate = Date()
        // Ctrl-C stops the load and still reports what was measured; a second Ctrl-C exits at once.
        let run = Task { try await ScenarioRunner.run(scenario, overrides: overrides, progress: progress) }
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            if run.isCancelled { _exit(130) }
            printError("\nloadtest: interrupted, stopping (Ctrl-C again to quit at once)")
            run.cancel()
        }
        interrupt.resume()
        defer { interrupt.cancel() }
        let report: ScenarioReport
        do {
            report = try await run.value
        } catch let failure as SetupFailure {
            if showsProgress { print("\r\u{1B}[K", terminator: "") }
            printError("loadtest: \(failure)")
            if let junit {
                try write(JUnitReport.render(setupFailure: failure, scenarioName: scenario.name, startDate: startDate), to: junit)
            }
            throw ExitStatus.setupFailed
        } catch let error as ScenarioError {
            printError("loadtest: \(error)")
            throw ExitStatus.invalid
        }
        if showsProgress { print("\r\u{1B}[K", terminator: "") }
        if quiet {
            print("\(report.scenarioName): \(report.passed ? "PASS" : "FAIL")")
        } else {
            print(SummaryReport.render(report), terminator: "")
        }
        try writeReports(report)
        if !report.passed { throw ExitStatus.thresholdFailed }
    }

    private func loadScenario() throws -> Scenario {
        do {
            if scenario.lowercased().hasPrefix("http://") || scenario.lowercased().hasPrefix("https://") {
                return try urlScenario(scenario)
            }
            return try ScenarioLoader.load(contentsOf: scenario)
        } catch let error as ScenarioError {
            printError("loadtest: \(error)")
            throw ExitStatus.invalid
        }
    }

    /// A one-request scenario for `loadtest run http://host:port/path`.
    private func urlScenario(_ url: String) throws -> Scenario {
        let afterScheme = url.dropFirst("http://".count)
        let pathStart = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let base = "http://" + afterScheme[..<pathStart]
        let path = afterScheme[pathStart...].isEmpty ? "/" : String(afterScheme[pathStart...])
        _ = try BaseURL(base)
        return Scenario(
            name: "GET \(path)",
            baseURL: base,
            requests: [RequestDefinition(name: "GET \(path)", path: .literal(path))]
        )
    }

    private func makeOverrides() throws -> ScenarioOverrides {
        func parseDuration(_ text: String?, _ option: String) throws -> Duration? {
            guard let text else { return nil }
            do {
                return try DurationText.parse(text)
            } catch {
                printError("loadtest: --\(option): \(error)")
                throw ExitStatus.invalid
            }
        }
        var parsedThresholds: [Threshold] = []
        for text in thresholds {
            do {
                parsedThresholds.append(try Threshold.parse(text))
            } catch {
                printError("loadtest: \(error)")
                throw ExitStatus.invalid
            }
        }
        if rate != nil, connections != nil {
            printError("loadtest: --rate (open model) and --connections (closed model) exclude each other")
            throw ExitStatus.invalid
        }
        var parsedTransport = LoadTransport.default
        if let transport {
            guard let value = LoadTransport(rawValue: transport) else {
                printError("loadtest: --transport must be 'sockets' or 'nio', not '\(transport)'")
                throw ExitStatus.invalid
            }
            parsedTransport = value
        }
        return ScenarioOverrides(
            baseURL: baseURL,
            rate: rate,
            connections: connections,
            maxConnections: maxConnections,
            duration: try parseDuration(duration, "duration"),
            maxRequests: maxRequests,
            timeout: try parseDuration(timeout, "timeout"),
            threads: threads,
            thresholds: parsedThresholds,
            recordsOutcomes: recordsOutcomes,
            lateSendThreshold: try parseDuration(lateThreshold, "late-threshold"),
            seed: seed,
            transport: parsedTransport
        )
    }

    private func writeReports(_ report: ScenarioReport) throws {
        if let junit { try write(JUnitReport.render(report), to: junit) }
        if let json { try write(try JSONReport.render(report), to: json) }
        if let hgrm {
            try write(HgrmReport.render(report.result.overall, corrected: true), to: hgrm)
            let base = hgrm.hasSuffix(".hgrm") ? String(hgrm.dropLast(".hgrm".count)) : hgrm
            try write(HgrmReport.render(report.result.overall, corrected: false), to: base + ".service.hgrm")
        }
        if let plotDirectory {
            try write(SVGPlot.latencyOverTime(report.result), to: plotDirectory + "/latency-over-time.svg")
            try write(SVGPlot.percentileCurve(report.result), to: plotDirectory + "/percentiles.svg")
        }
    }

    private func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Lets big connection pools open (the soft limit is often 1024).
    private func raiseOpenFileLimit() {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a scenario file (syntax, templates, variables, thresholds, load settings) without sending anything."
    )

    @Argument(help: "Scenario file.")
    var scenario: String

    @Option(name: .customLong("threshold"), help: "Extra thresholds to check (repeatable).")
    var thresholds: [String] = []

    func run() throws {
        do {
            let loaded = try ScenarioLoader.load(contentsOf: scenario)
            for text in thresholds {
                let threshold = try Threshold.parse(text)
                if let name = threshold.requestName, !loaded.requests.contains(where: { $0.name == name }) {
                    throw ScenarioError("threshold '\(text)' names request '\(name)', which the scenario does not have")
                }
            }
            var note = ""
            do {
                let configuration = try ScenarioRunner.configuration(for: loaded, variables: [:])
                note = "\(configuration.model) for \(DurationText.format(configuration.duration))"
            } catch {
                note = "load settings incomplete (\(error.message)); give them on the command line"
            }
            let requests = loaded.requests.map { "\($0.name)×\($0.weight)" }.joined(separator: ", ")
            print("\(scenario): OK — \(loaded.setup.count) setup step(s), requests \(requests), \(loaded.thresholds.count) threshold(s); \(note)")
        } catch let error as ScenarioError {
            printError("loadtest: \(error)")
            throw ExitStatus.invalid
        } catch let error as ThresholdParseError {
            printError("loadtest: \(error)")
            throw ExitStatus.invalid
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
