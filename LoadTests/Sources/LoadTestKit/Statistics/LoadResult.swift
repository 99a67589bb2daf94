import Foundation
import Histogram

/// Why a request did not succeed.
public enum RequestErrorKind: Int, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The connection could not be opened (refused, unreachable, connect timeout).
    case connect
    /// No complete response within the timeout, counted from the intended send time.
    case timeout
    /// The connection was reset or closed before the response was complete.
    case reset
    /// A complete response whose status is not among the expected ones.
    case unexpectedStatus
    /// A response that is not valid HTTP/1.x.
    case protocolError

    public var description: String {
        switch self {
        case .connect: "connect"
        case .timeout: "timeout"
        case .reset: "reset"
        case .unexpectedStatus: "unexpected_status"
        case .protocolError: "protocol"
        }
    }
}

/// The measurements for one request name (or for all requests together).
public struct RequestResult: Sendable {
    /// The request name; `all` for the aggregate.
    public var name: String
    /// Requests sent (written to a connection).
    public var sent: UInt64
    /// Responses received, whatever their status.
    public var completed: UInt64
    /// Responses with an expected status.
    public var succeeded: UInt64
    /// Failures by kind (an unexpected status is a failure too).
    public var errors: [RequestErrorKind: UInt64]
    /// Responses by status code.
    public var statusCounts: [Int: UInt64]
    /// Latency from the intended send time to the end of the response (coordinated omission corrected), in µs.
    public var latencyHistogram: Histogram<UInt64>
    /// Service time from the actual send to the end of the response (uncorrected), in µs.
    public var serviceTimeHistogram: Histogram<UInt64>
    /// Requests that timed out, recorded in ``latencyHistogram`` at the time they waited (at least the timeout), so a
    /// stall longer than the timeout raises the percentiles instead of vanishing from them.
    public var timeoutsInLatency: UInt64

    /// Summary of the corrected latency.
    public var latency: LatencySummary { LatencySummary(latencyHistogram) }
    /// Summary of the uncorrected service time.
    public var serviceTime: LatencySummary { LatencySummary(serviceTimeHistogram) }
    /// All failures.
    public var failed: UInt64 { errors.values.reduce(0, +) }
    /// Failures ÷ (successes + failures); 0 when nothing was attempted.
    public var errorRate: Double {
        let attempted = succeeded + failed
        return attempted == 0 ? 0 : Double(failed) / Double(attempted)
    }

    /// The latency at a percentile (0–100).
    ///
    /// - Parameters:
    ///   - percentile: e.g. 99.9.
    ///   - corrected: true for latency from the intended send time, false for service time.
    public func latency(atPercentile percentile: Double, corrected: Bool = true) -> Duration {
        let histogram = corrected ? latencyHistogram : serviceTimeHistogram
        return .microseconds(Int64(histogram.valueAtPercentile(percentile)))
    }

    init(name: String) {
        self.name = name
        sent = 0
        completed = 0
        succeeded = 0
        errors = [:]
        statusCounts = [:]
        latencyHistogram = LatencyHistogram.make()
        serviceTimeHistogram = LatencyHistogram.make()
        timeoutsInLatency = 0
    }

    mutating func add(_ other: RequestResult) {
        sent += other.sent
        completed += other.completed
        succeeded += other.succeeded
        errors.merge(other.errors, uniquingKeysWith: +)
        statusCounts.merge(other.statusCounts, uniquingKeysWith: +)
        latencyHistogram.add(other.latencyHistogram)
        serviceTimeHistogram.add(other.serviceTimeHistogram)
        timeoutsInLatency += other.timeoutsInLatency
    }
}

/// One interval of the run's timeline.
public struct TimelinePoint: Sendable, Codable {
    /// Start of the interval, seconds since the load started.
    public var offset: Double
    /// Interval length in seconds.
    public var interval: Double
    /// Requests whose intended send time falls in the interval.
    public var started: UInt64
    /// Responses completed in the interval.
    public var completed: UInt64
    /// Failures of requests intended in the interval.
    public var errors: UInt64
    /// Corrected latency of requests intended in the interval, milliseconds.
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double
    /// Uncorrected service time p99 of requests sent in the interval, milliseconds.
    public var serviceP99: Double

    enum CodingKeys: String, CodingKey {
        case offset = "offset_s"
        case interval = "interval_s"
        case started, completed, errors
        case p50 = "p50_ms"
        case p90 = "p90_ms"
        case p99 = "p99_ms"
        case max = "max_ms"
        case serviceP99 = "service_p99_ms"
    }
}

/// What happened to one request (recorded when ``LoadConfiguration/recordsOutcomes`` is on).
public struct RequestOutcome: Sendable, Codable {
    /// The request name.
    public var name: String
    /// The request's sequence number in the run.
    public var sequence: Int
    /// Intended send time, seconds since the load started.
    public var intendedOffset: Double
    /// Corrected latency in seconds (nil when no response arrived).
    public var latency: Double?
    /// Uncorrected service time in seconds (nil when the request was never sent or no response arrived).
    public var serviceTime: Double?
    /// The response status, if a response arrived.
    public var status: Int?
    /// The failure, if any.
    public var error: RequestErrorKind?
}

/// The outcome of a load run.
public struct LoadResult: Sendable {
    /// The scenario or configuration name.
    public var name: String
    /// A description of the model, e.g. `open model, 50 req/s`.
    public var model: String
    /// Whether the run used the open model.
    public var isOpenModel: Bool
    /// The base URL the load went to.
    public var baseURL: String
    /// When the load started (wall clock).
    public var startDate: Date
    /// The configured duration.
    public var configuredDuration: Duration
    /// The configured request cap.
    public var maxRequests: Int
    /// From the start of the load to the last response or failure.
    public var elapsed: Duration
    /// The time over which requests were sent: from the start to the last send, plus one mean interval between sends
    /// (n sends span n − 1 intervals). Rates are measured over it, so waiting for a late timeout after the last send
    /// does not lower them.
    public var sendWindow: Duration
    /// The configured request timeout, counted from the intended send time.
    public var requestTimeout: Duration
    /// Requests the schedule called for (open model) or that were claimed (closed model).
    public var intended: UInt64
    /// The rate the open model aimed for, averaged over the schedule; nil for the closed model.
    public var intendedRate: Double?
    /// Requests sent later than ``lateSendThreshold`` after their intended time (no free connection, or the generator lagged).
    public var lateSends: UInt64
    /// The lateness threshold used for ``lateSends``.
    public var lateSendThreshold: Duration
    /// Connections opened during the load.
    public var connectionsOpened: UInt64
    /// Requests sent a second time, on a new connection, because the server closed a reused connection under them
    /// before any of the response arrived (only idempotent requests, or ones never written; at most once each).
    public var retried: UInt64 = 0
    /// The most requests in flight at once.
    public var maxInFlight: Int
    /// Response bytes received.
    public var bytesReceived: UInt64
    /// Whether the run was cancelled before it ended by itself.
    public var cancelled: Bool
    /// All requests together.
    public var overall: RequestResult
    /// One entry per request name, in scenario order.
    public var requests: [RequestResult]
    /// The latency timeline.
    public var timeline: [TimelinePoint]
    /// Individual outcomes, if recorded, ordered by intended send time.
    public var outcomes: [RequestOutcome]?
    /// Values captured by setup steps and variables (names only are reported; values may be secrets).
    public var variableNames: [String]

    /// Completed requests per second over ``sendWindow``.
    public var achievedRate: Double { self.rate(of: overall.completed) }

    /// `count` per second over ``sendWindow``.
    public func rate(of count: UInt64) -> Double {
        let seconds = sendWindow.seconds
        return seconds > 0 ? Double(count) / seconds : 0
    }

    /// The send window of a run whose last send was `lastSend` after the start, with `sent` sends in all: `elapsed` when
    /// fewer than two requests were sent.
    static func sendWindow(lastSend: Duration, sent: UInt64, elapsed: Duration) -> Duration {
        guard sent >= 2, lastSend > .zero else { return elapsed }
        return min(lastSend + lastSend / Double(sent - 1), max(elapsed, lastSend))
    }

    /// The result for a request name.
    public func request(named name: String) -> RequestResult? {
        requests.first { $0.name == name }
    }
}
