import NIOCore
import NIOPosix

/// Command-line style overrides of a scenario's settings.
public struct ScenarioOverrides: Sendable {
    /// Replaces the scenario's base URL.
    public var baseURL: String?
    /// Selects the open model at this constant rate.
    public var rate: Double?
    /// Selects the closed model with this many connections.
    public var connections: Int?
    /// Caps the open model's connection pool.
    public var maxConnections: Int?
    /// Replaces the duration.
    public var duration: Duration?
    /// Replaces the request cap.
    public var maxRequests: Int?
    /// Replaces the request timeout.
    public var timeout: Duration?
    /// Event loop threads.
    public var threads: Int?
    /// Thresholds added to the scenario's.
    public var thresholds: [Threshold]
    /// Keep per-request outcomes.
    public var recordsOutcomes: Bool
    /// Late-send threshold.
    public var lateSendThreshold: Duration?
    /// Seed for the request mix and templates.
    public var seed: UInt64?
    /// How connections are made.
    public var transport: LoadTransport

    /// No overrides.
    public init(
        baseURL: String? = nil,
        rate: Double? = nil,
        connections: Int? = nil,
        maxConnections: Int? = nil,
        duration: Duration? = nil,
        maxRequests: Int? = nil,
        timeout: Duration? = nil,
        threads: Int? = nil,
        thresholds: [Threshold] = [],
        recordsOutcomes: Bool = false,
        lateSendThreshold: Duration? = nil,
        seed: UInt64? = nil,
        transport: LoadTransport = .default
    ) {
        self.baseURL = baseURL
        self.rate = rate
        self.connections = connections
        self.maxConnections = maxConnections
        self.duration = duration
        self.maxRequests = maxRequests
        self.timeout = timeout
        self.threads = threads
        self.thresholds = thresholds
        self.recordsOutcomes = recordsOutcomes
        self.lateSendThreshold = lateSendThreshold
        self.seed = seed
        self.transport = transport
    }
}

/// What one setup step did.
public struct SetupStepReport: Sendable {
    /// The step's name.
    public var name: String
    /// The response status, if a response arrived.
    public var status: Int?
    /// How long the step took.
    public var duration: Duration
    /// Why the step failed, if it did.
    public var failure: String?
    /// Names of the values captured.
    public var captured: [String]
}

/// A setup step failed; the load did not run.
public struct SetupFailure: Error, CustomStringConvertible, Sendable {
    /// Reports of the steps run, the failing one last.
    public var steps: [SetupStepReport]

    public var description: String {
        guard let last = steps.last else { return "setup failed" }
        return "setup step '\(last.name)' failed: \(last.failure ?? "unknown error")"
    }
}

/// The outcome of running a scenario: the measurements and the threshold verdicts.
public struct ScenarioReport: Sendable {
    /// The scenario's name.
    public var scenarioName: String
    /// Setup steps.
    public var setup: [SetupStepReport]
    /// Measurements.
    public var result: LoadResult
    /// One verdict per threshold.
    public var thresholds: [ThresholdOutcome]

    /// Request names with sends but not a single success (each becomes a failed JUnit testcase).
    public var requestsWithoutSuccess: [String] {
        result.requests.filter { ($0.sent > 0 || $0.failed > 0) && $0.succeeded == 0 }.map(\.name)
    }

    /// Whether every threshold holds and every request name succeeded at least once.
    public var passed: Bool {
        thresholds.allSatisfy(\.passed) && requestsWithoutSuccess.isEmpty && !result.cancelled
    }
}

/// Runs scenarios: variables, setup steps, then the load, then the thresholds.
public enum ScenarioRunner {
    /// The base URL used when neither the scenario nor the overrides give one.
    public static let defaultBaseURL = "http://127.0.0.1:8080"

    /// Builds the engine configuration for a scenario (without running setup).
    ///
    /// - Parameters:
    ///   - scenario: The scenario.
    ///   - overrides: Command-line overrides.
    ///   - variables: Values for template variables.
    /// - Throws: ``ScenarioError`` when the load model or bounds are missing or invalid.
    public static func configuration(
        for scenario: Scenario,
        overrides: ScenarioOverrides = ScenarioOverrides(),
        variables: [String: String] = [:]
    ) throws(ScenarioError) -> LoadConfiguration {
        let load = scenario.load
        let baseURL = try BaseURL(overrides.baseURL ?? scenario.baseURL ?? defaultBaseURL)
        if overrides.rate != nil, overrides.connections != nil {
            throw ScenarioError("--rate (open model) and --connections (closed model) exclude each other")
        }
        let model: LoadModel
        let maxConnections = overrides.maxConnections ?? load.maxConnections
        if let rate = overrides.rate {
            guard rate > 0, rate.isFinite else { throw ScenarioError("the rate must be positive") }
            model = .open(.constant(rate), maxConnections: maxConnections ?? load.connections)
        } else if let connections = overrides.connections {
            model = .closed(connections: connections)
        } else if load.model == "closed" || (load.model == nil && load.rate == nil && load.stages == nil && load.connections != nil) {
            guard let connections = load.connections else { throw ScenarioError("the closed model needs load.connections (or --connections)") }
            model = .closed(connections: connections)
        } else if let stages = load.stages {
            model = .open(.stepped(stages), maxConnections: maxConnections ?? (load.model == "open" ? load.connections : nil))
        } else if let rate = load.rate {
            model = .open(.constant(rate), maxConnections: maxConnections ?? (load.model == "open" ? load.connections : nil))
        } else {
            throw ScenarioError(
                "no load model: set load.rate or load.stages (open model) or load.connections (closed model), or pass --rate / --connections"
            )
        }
        var duration = overrides.duration ?? load.duration
        if duration == nil, overrides.rate == nil, case .open(let rate, _) = model, !rate.isConstant {
            duration = rate.stages.reduce(Duration.zero) { $0 + $1.duration }
        }
        guard let duration else { throw ScenarioError("no duration: set load.duration or pass --duration") }
        var configuration = LoadConfiguration(
            name: scenario.name,
            baseURL: baseURL,
            requests: scenario.requests,
            defaultHeaders: scenario.defaultHeaders,
            model: model,
            duration: duration,
            maxRequests: overrides.maxRequests ?? load.maxRequests ?? 10_000_000,
            requestTimeout: overrides.timeout ?? load.timeout ?? .seconds(10),
            connectTimeout: load.connectTimeout ?? .seconds(3),
            variables: variables,
            threads: overrides.threads,
            recordsOutcomes: overrides.recordsOutcomes,
            seed: overrides.seed,
            transport: overrides.transport
        )
        if let late = overrides.lateSendThreshold { configuration.lateSendThreshold = late }
        try configuration.validate()
        return configuration
    }

    /// Evaluates the scenario's variables in order.
    static func evaluateVariables(_ scenario: Scenario, random: inout FastRandom) throws(ScenarioError) -> [String: String] {
        var values: [String: String] = [:]
        for variable in scenario.variables {
            do {
                var context = TemplateContext(random: random)
                let resolved = try variable.value.resolving(values)
                values[variable.name] = resolved.render(context: &context)
                random = context.random
            } catch {
                throw ScenarioError("variable '\(variable.name)': \(error)")
            }
        }
        return values
    }

    /// Runs a scenario: variables, setup, load, thresholds.
    ///
    /// - Parameters:
    ///   - scenario: The scenario.
    ///   - overrides: Command-line overrides.
    ///   - group: Event loops to use; nil creates a group for the run.
    ///   - progress: Live figures during the load.
    /// - Throws: ``ScenarioError`` for an invalid scenario, ``SetupFailure`` when a setup step fails.
    public static func run(
        _ scenario: Scenario,
        overrides: ScenarioOverrides = ScenarioOverrides(),
        on group: (any EventLoopGroup)? = nil,
        progress: (@Sendable (LoadProgress) -> Void)? = nil
    ) async throws -> ScenarioReport {
        try scenario.validate()
        for threshold in overrides.thresholds {
            if let name = threshold.requestName, !scenario.requests.contains(where: { $0.name == name }) {
                throw ScenarioError("threshold '\(threshold.source)' names request '\(name)', which the scenario does not have")
            }
        }
        // Check the load settings before running any setup request.
        _ = try configuration(for: scenario, overrides: overrides, variables: [:])
        var random = overrides.seed.map { FastRandom(seed: $0 ^ 0x5EED) } ?? FastRandom()
        var variables = try evaluateVariables(scenario, random: &random)
        let baseURL = try BaseURL(overrides.baseURL ?? scenario.baseURL ?? defaultBaseURL)
        let setupGroup = group ?? MultiThreadedEventLoopGroup.singleton
        let (captured, setupReports) = try await runSetup(
            scenario,
            baseURL: baseURL,
            variables: variables,
            timeout: overrides.timeout ?? scenario.load.timeout ?? .seconds(10),
            eventLoop: setupGroup.next(),
            random: &random
        )
        variables.merge(captured) { _, new in new }
        let configuration = try configuration(for: scenario, overrides: overrides, variables: variables)
        let result = try await LoadRunner.run(configuration, on: group, progress: progress)
        let thresholds = (scenario.thresholds + overrides.thresholds).map { $0.evaluate(result) }
        return ScenarioReport(scenarioName: scenario.name, setup: setupReports, result: result, thresholds: thresholds)
    }

    /// Runs the setup steps in order and returns the captured values.
    static func runSetup(
        _ scenario: Scenario,
        baseURL: BaseURL,
        variables: [String: String],
        timeout: Duration,
        eventLoop: any EventLoop,
        random: inout FastRandom
    ) async throws -> ([String: String], [SetupStepReport]) {
        guard !scenario.setup.isEmpty else { return ([:], []) }
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(baseURL.host, port: baseURL.port)
        } catch {
            throw ScenarioError("cannot resolve host '\(baseURL.host)': \(error)")
        }
        var values = variables
        var captured: [String: String] = [:]
        var reports: [SetupStepReport] = []
        let clock = ContinuousClock()
        for (index, step) in scenario.setup.enumerated() {
            let began = clock.now
            var report = SetupStepReport(name: step.request.name, status: nil, duration: .zero, failure: nil, captured: [])
            func fail(_ message: String) -> SetupFailure {
                report.failure = message
                report.duration = clock.now - began
                return SetupFailure(steps: reports + [report])
            }
            let compiled: CompiledRequest
            do {
                compiled = try CompiledRequest(step.request, baseURL: baseURL, defaultHeaders: scenario.defaultHeaders, variables: values)
            } catch {
                throw fail(error.message)
            }
            var context = TemplateContext(random: random, sequence: index)
            var scratch = ByteBufferAllocator().buffer(capacity: 256)
            let bytes = compiled.encode(context: &context, allocator: ByteBufferAllocator(), scratch: &scratch)
            random = context.random
            let response: HTTPExchangeResponse
            do {
                response = try await HTTPExchange.perform(
                    bytes,
                    isHeadRequest: compiled.isHeadRequest,
                    to: address,
                    on: eventLoop,
                    timeout: timeout,
                    connectTimeout: scenario.load.connectTimeout ?? .seconds(3)
                )
            } catch {
                throw fail("\(error)")
            }
            report.status = response.status
            guard step.request.expectedStatuses.contains(response.status) else {
                let snippet = String(decoding: response.body.prefix(300), as: UTF8.self)
                throw fail("status \(response.status), expected \(step.request.expectedStatuses); body: \(snippet)")
            }
            for capture in step.captures {
                let value: String?
                switch capture.source {
                case .jsonPath(let path): value = path.extract(from: response.body)
                case .header(let name): value = response.header(name)
                }
                guard let value else {
                    let source: String
                    switch capture.source {
                    case .jsonPath(let path): source = "JSON path \(path)"
                    case .header(let name): source = "header \(name)"
                    }
                    throw fail("capture '\(capture.name)': the response has no \(source)")
                }
                guard !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                    throw fail("capture '\(capture.name)': the value contains a line break")
                }
                values[capture.name] = value
                captured[capture.name] = value
                report.captured.append(capture.name)
            }
            report.duration = clock.now - began
            reports.append(report)
        }
        return (captured, reports)
    }
}
