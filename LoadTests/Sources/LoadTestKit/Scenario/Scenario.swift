/// A load test scenario: where to send requests, what to set up first, the weighted request mix, the load shape and the
/// pass/fail thresholds. Scenarios are usually read from YAML or JSON with ``ScenarioLoader``.
public struct Scenario: Sendable {
    /// The scenario's name, used in reports.
    public var name: String
    /// The base URL, e.g. `http://127.0.0.1:8080`; a command-line `--base-url` overrides it.
    public var baseURL: String?
    /// Variables evaluated once at the start of the run, in order (they may use earlier variables and placeholders).
    public var variables: [ScenarioVariable]
    /// Headers added to every setup and load request unless the request sets the same header.
    public var defaultHeaders: [HeaderField]
    /// Requests run once, in order, before the load starts; they can capture values for later templates.
    public var setup: [SetupStep]
    /// The weighted request mix.
    public var requests: [RequestDefinition]
    /// The load shape and bounds.
    public var load: LoadSettings
    /// Pass/fail criteria.
    public var thresholds: [Threshold]

    /// Creates a scenario.
    public init(
        name: String,
        baseURL: String? = nil,
        variables: [ScenarioVariable] = [],
        defaultHeaders: [HeaderField] = [],
        setup: [SetupStep] = [],
        requests: [RequestDefinition],
        load: LoadSettings = LoadSettings(),
        thresholds: [Threshold] = []
    ) {
        self.name = name
        self.baseURL = baseURL
        self.variables = variables
        self.defaultHeaders = defaultHeaders
        self.setup = setup
        self.requests = requests
        self.load = load
        self.thresholds = thresholds
    }

    /// Checks that names are unique, every variable a template uses is defined before it is used, and every threshold
    /// names a known request.
    ///
    /// - Throws: ``ScenarioError`` describing the first problem found.
    public func validate() throws(ScenarioError) {
        guard !requests.isEmpty else { throw ScenarioError("the scenario has no requests") }
        var defined = Set<String>()
        for variable in variables {
            for name in variable.value.variableNames where !defined.contains(name) {
                throw ScenarioError("variable '\(variable.name)' uses '\(name)' before it is defined")
            }
            defined.insert(variable.name)
        }
        func check(_ request: RequestDefinition, context: String) throws(ScenarioError) {
            let templates = [request.path] + request.headers.map(\.value) + (request.body.map { [$0] } ?? [])
            for template in templates {
                for name in template.variableNames where !defined.contains(name) {
                    throw ScenarioError("\(context) '\(request.name)' uses variable '\(name)', which is not defined at that point")
                }
            }
        }
        for header in defaultHeaders {
            for name in header.value.variableNames where !defined.contains(name) {
                throw ScenarioError("default header '\(header.name)' uses variable '\(name)', which is not defined by 'variables'")
            }
        }
        for step in setup {
            try check(step.request, context: "setup step")
            for capture in step.captures { defined.insert(capture.name) }
        }
        var names = Set<String>()
        for request in requests {
            guard names.insert(request.name).inserted else { throw ScenarioError("request name '\(request.name)' is used twice") }
            guard request.weight >= 0 else { throw ScenarioError("request '\(request.name)' has a negative weight") }
            try check(request, context: "request")
        }
        guard requests.contains(where: { $0.weight > 0 }) else { throw ScenarioError("every request has weight 0") }
        for threshold in thresholds {
            if let scope = threshold.requestName, !names.contains(scope) {
                throw ScenarioError("threshold '\(threshold.source)' names request '\(scope)', which the scenario does not have")
            }
        }
        try load.validate()
    }
}

/// A named value computed once at the start of a run.
public struct ScenarioVariable: Sendable {
    /// The variable's name.
    public var name: String
    /// Its template, e.g. `lt_{{randString 10}}`.
    public var value: Template

    /// Creates a variable.
    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

/// An HTTP header with a templated value.
public struct HeaderField: Sendable {
    /// The header name.
    public var name: String
    /// The value template, e.g. `Bearer {{token}}`.
    public var value: Template

    /// Creates a header.
    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

/// One kind of request in a scenario.
public struct RequestDefinition: Sendable {
    /// The name reports group this request's results under.
    public var name: String
    /// The HTTP method, e.g. `GET`.
    public var method: String
    /// The path and query, templated, e.g. `/api/reviews/book/book-{{randInt 1 50}}?page=1&limit=20`.
    public var path: Template
    /// Request headers.
    public var headers: [HeaderField]
    /// The request body, templated.
    public var body: Template?
    /// The relative weight in the mix.
    public var weight: Int
    /// The statuses that count as success.
    public var expectedStatuses: ExpectedStatuses

    /// Creates a request definition.
    public init(
        name: String,
        method: String = "GET",
        path: Template,
        headers: [HeaderField] = [],
        body: Template? = nil,
        weight: Int = 1,
        expectedStatuses: ExpectedStatuses = .success
    ) {
        self.name = name
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.weight = weight
        self.expectedStatuses = expectedStatuses
    }
}

/// A request run once before the load, with values captured from its response.
public struct SetupStep: Sendable {
    /// The request.
    public var request: RequestDefinition
    /// Values to capture from the response.
    public var captures: [Capture]

    /// Creates a setup step.
    public init(request: RequestDefinition, captures: [Capture] = []) {
        self.request = request
        self.captures = captures
    }
}

/// A value captured from a setup response into a variable.
public struct Capture: Sendable {
    /// Where the value comes from.
    public enum Source: Sendable {
        /// A JSON path into the response body, e.g. `$.token`.
        case jsonPath(JSONPath)
        /// A response header, by case-insensitive name.
        case header(String)
    }

    /// The variable name, e.g. `token`.
    public var name: String
    /// Where the value comes from.
    public var source: Source

    /// Creates a capture.
    public init(name: String, source: Source) {
        self.name = name
        self.source = source
    }
}

/// A request arrival rate over time: one or more stages of constant rate.
public struct ArrivalRate: Sendable, Hashable {
    /// A period of constant arrival rate.
    public struct Stage: Sendable, Hashable {
        /// Requests per second (0 pauses).
        public var rate: Double
        /// How long the stage lasts.
        public var duration: Duration

        /// Creates a stage.
        public init(rate: Double, duration: Duration) {
            self.rate = rate
            self.duration = duration
        }
    }

    /// The stages, run one after the other. A constant rate is a single stage whose duration is the run's.
    public var stages: [Stage]

    /// A constant rate for the run's whole duration.
    public static func constant(_ rate: Double) -> ArrivalRate {
        ArrivalRate(stages: [Stage(rate: rate, duration: .seconds(0))])
    }

    /// A stepped rate.
    public static func stepped(_ stages: [Stage]) -> ArrivalRate {
        ArrivalRate(stages: stages)
    }

    /// The highest rate of any stage.
    public var peakRate: Double { stages.map(\.rate).max() ?? 0 }

    var isConstant: Bool { stages.count == 1 && stages[0].duration == .zero }
}

/// How load is generated.
public enum LoadModel: Sendable, Hashable, CustomStringConvertible {
    /// Open model: requests arrive on a schedule whatever the server does; latency counts from each request's
    /// intended send time. `maxConnections` caps the connection pool (nil: sized from the rate).
    case open(ArrivalRate, maxConnections: Int? = nil)
    /// Closed model: a fixed number of connections, each sending its next request as soon as the previous answer arrives.
    case closed(connections: Int)

    public var description: String {
        switch self {
        case .open(let rate, _):
            if rate.isConstant { return "open model, \(Self.format(rate.peakRate)) req/s" }
            let steps = rate.stages.map { "\(Self.format($0.rate)) req/s for \(DurationText.format($0.duration))" }
            return "open model, " + steps.joined(separator: " then ")
        case .closed(let connections):
            return "closed model, \(connections) connection\(connections == 1 ? "" : "s")"
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// The load section of a scenario; every field is optional and a command line can override it.
public struct LoadSettings: Sendable {
    /// `open` or `closed`; inferred from `rate`/`stages` vs `connections` when absent.
    public var model: String?
    /// Constant arrival rate (open model), requests per second.
    public var rate: Double?
    /// Stepped arrival rate (open model).
    public var stages: [ArrivalRate.Stage]?
    /// Connections (closed model) or the pool cap (open model, also `maxConnections`).
    public var connections: Int?
    /// The open model's connection pool cap.
    public var maxConnections: Int?
    /// How long the load runs.
    public var duration: Duration?
    /// The most requests the run sends.
    public var maxRequests: Int?
    /// Per-request timeout, counted from the intended send time.
    public var timeout: Duration?
    /// Connect timeout.
    public var connectTimeout: Duration?

    /// Empty settings.
    public init(
        model: String? = nil,
        rate: Double? = nil,
        stages: [ArrivalRate.Stage]? = nil,
        connections: Int? = nil,
        maxConnections: Int? = nil,
        duration: Duration? = nil,
        maxRequests: Int? = nil,
        timeout: Duration? = nil,
        connectTimeout: Duration? = nil
    ) {
        self.model = model
        self.rate = rate
        self.stages = stages
        self.connections = connections
        self.maxConnections = maxConnections
        self.duration = duration
        self.maxRequests = maxRequests
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    func validate() throws(ScenarioError) {
        if let model, model != "open", model != "closed" { throw ScenarioError("load.model must be 'open' or 'closed', not '\(model)'") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ScenarioError("load.rate must be a positive number") }
        if let stages {
            guard !stages.isEmpty else { throw ScenarioError("load.stages is empty") }
            for stage in stages {
                guard stage.rate >= 0, stage.rate.isFinite else { throw ScenarioError("load.stages: rate must be 0 or more") }
                guard stage.duration > .zero else { throw ScenarioError("load.stages: every stage needs a positive duration") }
            }
        }
        if let connections, connections < 1 { throw ScenarioError("load.connections must be at least 1") }
        if let maxConnections, maxConnections < 1 { throw ScenarioError("load.maxConnections must be at least 1") }
        if let duration, duration <= .zero { throw ScenarioError("load.duration must be positive") }
        if let maxRequests, maxRequests < 1 { throw ScenarioError("load.maxRequests must be at least 1") }
        if let timeout, timeout <= .zero { throw ScenarioError("load.timeout must be positive") }
    }
}

/// A problem in a scenario, its file or its settings.
public struct ScenarioError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, in one line.
    public let message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
