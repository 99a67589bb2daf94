/// Everything the engine needs for one run: where, what, how much and how long.
///
/// Build one directly for programmatic use (e.g. steady open-model load from another test suite), or let
/// ``ScenarioRunner`` build it from a ``Scenario``.
/// How the engine makes its connections.
public enum LoadTransport: String, Sendable, CaseIterable {
    /// Its own event loops with non-blocking sockets on epoll (Linux): the least CPU per connection.
    case sockets
    /// SwiftNIO channels on NIO's event loops.
    case nio

    /// `sockets` on Linux, `nio` elsewhere.
    public static var `default`: LoadTransport {
        #if os(Linux)
        .sockets
        #else
        .nio
        #endif
    }
}

public struct LoadConfiguration: Sendable {
    /// A name for reports.
    public var name: String
    /// Where requests go.
    public var baseURL: BaseURL
    /// The weighted request mix.
    public var requests: [RequestDefinition]
    /// Headers added to every request unless it sets the same header.
    public var defaultHeaders: [HeaderField]
    /// Open or closed model.
    public var model: LoadModel
    /// How long the load runs (the open model's stages are cut at this duration).
    public var duration: Duration
    /// The most requests to send.
    public var maxRequests: Int
    /// A request without a complete response this long after its intended send time is a timeout.
    public var requestTimeout: Duration
    /// Connect timeout.
    public var connectTimeout: Duration
    /// Values for template variables (scenario variables and captured values).
    public var variables: [String: String]
    /// Event loop threads; nil uses one per core.
    public var threads: Int?
    /// A request sent more than this after its intended time counts as a late send.
    public var lateSendThreshold: Duration
    /// Whether to keep every request's outcome in ``LoadResult/outcomes``.
    public var recordsOutcomes: Bool
    /// The most outcomes kept when ``recordsOutcomes`` is on.
    public var maximumRecordedOutcomes: Int
    /// The timeline's interval; nil picks one from the duration.
    public var timelineInterval: Duration?
    /// How often the progress callback is called.
    public var progressInterval: Duration
    /// Seed for the request mix and templates; nil for a random seed.
    public var seed: UInt64?
    /// How connections are made when ``LoadRunner`` creates its own event loops.
    public var transport: LoadTransport

    /// Creates a configuration.
    public init(
        name: String = "load",
        baseURL: BaseURL,
        requests: [RequestDefinition],
        defaultHeaders: [HeaderField] = [],
        model: LoadModel,
        duration: Duration,
        maxRequests: Int = 10_000_000,
        requestTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(3),
        variables: [String: String] = [:],
        threads: Int? = nil,
        lateSendThreshold: Duration = .milliseconds(5),
        recordsOutcomes: Bool = false,
        maximumRecordedOutcomes: Int = 1_000_000,
        timelineInterval: Duration? = nil,
        progressInterval: Duration = .seconds(1),
        seed: UInt64? = nil,
        transport: LoadTransport = .default
    ) {
        self.name = name
        self.baseURL = baseURL
        self.requests = requests
        self.defaultHeaders = defaultHeaders
        self.model = model
        self.duration = duration
        self.maxRequests = maxRequests
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.variables = variables
        self.threads = threads
        self.lateSendThreshold = lateSendThreshold
        self.recordsOutcomes = recordsOutcomes
        self.maximumRecordedOutcomes = maximumRecordedOutcomes
        self.timelineInterval = timelineInterval
        self.progressInterval = progressInterval
        self.seed = seed
        self.transport = transport
    }

    /// Checks the bounds and the model.
    ///
    /// - Throws: ``ScenarioError`` for a configuration that cannot run.
    public func validate() throws(ScenarioError) {
        guard duration > .zero else { throw ScenarioError("the duration must be positive") }
        guard duration <= .seconds(86_400) else { throw ScenarioError("the duration must be at most 24h") }
        guard maxRequests >= 1 else { throw ScenarioError("max requests must be at least 1") }
        guard requestTimeout > .zero, connectTimeout > .zero else { throw ScenarioError("timeouts must be positive") }
        guard !requests.isEmpty, requests.contains(where: { $0.weight > 0 }) else {
            throw ScenarioError("there is no request with a positive weight")
        }
        if let threads, threads < 1 { throw ScenarioError("threads must be at least 1") }
        switch model {
        case .open(let rate, let maxConnections):
            guard !rate.stages.isEmpty, rate.stages.allSatisfy({ $0.rate >= 0 && $0.rate.isFinite }), rate.peakRate > 0 else {
                throw ScenarioError("the open model needs a positive arrival rate")
            }
            guard rate.peakRate <= 10_000_000 else { throw ScenarioError("the arrival rate is above 10M req/s") }
            if let maxConnections, maxConnections < 1 { throw ScenarioError("max connections must be at least 1") }
        case .closed(let connections):
            guard connections >= 1 else { throw ScenarioError("the closed model needs at least one connection") }
        }
    }

    /// The timeline interval used: the configured one, or a round value giving at most ~200 points.
    var effectiveTimelineInterval: Duration {
        if let timelineInterval, timelineInterval > .zero { return timelineInterval }
        let target = duration.seconds / 200
        let steps = [0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600]
        let step = steps.first { $0 >= target } ?? 600
        return .milliseconds(Int64(step * 1000))
    }
}

/// When each request of the open model is due, as offsets from the start.
struct ArrivalSchedule: Sendable {
    struct Segment: Sendable {
        var firstIndex: Int
        var endIndex: Int
        var startOffset: Double
        var intervalNanoseconds: Double
    }

    let segments: [Segment]
    let totalArrivals: Int
    /// The length of the schedule in nanoseconds.
    let lengthNanoseconds: Double

    init(rate: ArrivalRate, duration: Duration) {
        let limit = Double(duration.nanosecondsClamped)
        var segments: [Segment] = []
        var index = 0
        var offset = 0.0
        let stages = rate.isConstant ? [ArrivalRate.Stage(rate: rate.stages[0].rate, duration: duration)] : rate.stages
        for stage in stages where offset < limit {
            let length = min(Double(stage.duration.nanosecondsClamped), limit - offset)
            if stage.rate > 0 {
                let interval = 1e9 / stage.rate
                let count = Int((length / interval - 1e-9).rounded(.up))
                if count > 0 {
                    segments.append(Segment(firstIndex: index, endIndex: index + count, startOffset: offset, intervalNanoseconds: interval))
                    index += count
                }
            }
            offset += length
        }
        self.segments = segments
        self.totalArrivals = index
        self.lengthNanoseconds = offset
    }

    /// The intended offset of an arrival, in nanoseconds; `segment` is a cursor that only moves forward.
    @inline(__always)
    func offset(of index: Int, segment: inout Int) -> UInt64 {
        while segment < segments.count - 1, index >= segments[segment].endIndex { segment += 1 }
        let current = segments[segment]
        return UInt64(current.startOffset + Double(index - current.firstIndex) * current.intervalNanoseconds)
    }
}
