import Foundation
import Histogram

/// The machine-readable result written by `--json`.
public enum JSONReport {
    struct Document: Encodable {
        var scenario: String
        var passed: Bool
        var baseURL: String
        var model: String
        var openModel: Bool
        var startTime: String
        var configuredDurationSeconds: Double
        var maxRequests: Int
        var elapsedSeconds: Double
        var sendWindowSeconds: Double
        var intendedRequests: UInt64
        var intendedRps: Double?
        var achievedRps: Double
        var lateSends: UInt64
        var lateSendThresholdMs: Double
        var connectionsOpened: UInt64
        var retried: UInt64
        var maxInFlight: Int
        var bytesReceived: UInt64
        var cancelled: Bool
        var setup: [SetupStep]
        var overall: Request
        var requests: [Request]
        var thresholds: [ThresholdVerdict]
        var timeline: [TimelinePoint]
        var outcomes: [RequestOutcome]?

        enum CodingKeys: String, CodingKey {
            case scenario, passed, model, cancelled, setup, overall, requests, thresholds, timeline, outcomes, retried
            case baseURL = "base_url"
            case openModel = "open_model"
            case startTime = "start_time"
            case configuredDurationSeconds = "configured_duration_s"
            case maxRequests = "max_requests"
            case elapsedSeconds = "elapsed_s"
            case sendWindowSeconds = "send_window_s"
            case intendedRequests = "intended_requests"
            case intendedRps = "intended_rps"
            case achievedRps = "achieved_rps"
            case lateSends = "late_sends"
            case lateSendThresholdMs = "late_send_threshold_ms"
            case connectionsOpened = "connections_opened"
            case maxInFlight = "max_in_flight"
            case bytesReceived = "bytes_received"
        }
    }

    struct SetupStep: Encodable {
        var name: String
        var status: Int?
        var durationMs: Double
        var failure: String?
        var captured: [String]

        enum CodingKeys: String, CodingKey {
            case name, status, failure, captured
            case durationMs = "duration_ms"
        }
    }

    struct Request: Encodable {
        var name: String
        var sent: UInt64
        var completed: UInt64
        var succeeded: UInt64
        var failed: UInt64
        var errorRate: Double
        var achievedRps: Double
        /// Timed-out requests counted in `latency` at their waiting time (at least the timeout).
        var timeoutsInLatency: UInt64
        var statusCounts: [String: UInt64]
        var errors: [String: UInt64]
        var latency: LatencySummary
        var serviceTime: LatencySummary

        enum CodingKeys: String, CodingKey {
            case name, sent, completed, succeeded, failed, errors, latency
            case errorRate = "error_rate"
            case achievedRps = "achieved_rps"
            case statusCounts = "status_counts"
            case serviceTime = "service_time"
            case timeoutsInLatency = "timeouts_in_latency"
        }
    }

    struct ThresholdVerdict: Encodable {
        var threshold: String
        var passed: Bool
        var measured: Double?
        var limit: Double
        var explanation: String
    }

    /// Renders the JSON document.
    public static func render(_ report: ScenarioReport) throws -> String {
        let result = report.result
        let seconds = result.elapsed.seconds
        func request(_ value: RequestResult) -> Request {
            Request(
                name: value.name,
                sent: value.sent,
                completed: value.completed,
                succeeded: value.succeeded,
                failed: value.failed,
                errorRate: value.errorRate,
                achievedRps: result.rate(of: value.completed),
                timeoutsInLatency: value.timeoutsInLatency,
                statusCounts: Dictionary(uniqueKeysWithValues: value.statusCounts.map { (String($0.key), $0.value) }),
                errors: Dictionary(uniqueKeysWithValues: RequestErrorKind.allCases.map { ($0.description, value.errors[$0] ?? 0) }),
                latency: value.latency,
                serviceTime: value.serviceTime
            )
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let document = Document(
            scenario: report.scenarioName,
            passed: report.passed,
            baseURL: result.baseURL,
            model: result.model,
            openModel: result.isOpenModel,
            startTime: formatter.string(from: result.startDate),
            configuredDurationSeconds: result.configuredDuration.seconds,
            maxRequests: result.maxRequests,
            elapsedSeconds: seconds,
            sendWindowSeconds: result.sendWindow.seconds,
            intendedRequests: result.intended,
            intendedRps: result.intendedRate,
            achievedRps: result.achievedRate,
            lateSends: result.lateSends,
            lateSendThresholdMs: result.lateSendThreshold.seconds * 1000,
            connectionsOpened: result.connectionsOpened,
            retried: result.retried,
            maxInFlight: result.maxInFlight,
            bytesReceived: result.bytesReceived,
            cancelled: result.cancelled,
            setup: report.setup.map {
                SetupStep(name: $0.name, status: $0.status, durationMs: $0.duration.seconds * 1000, failure: $0.failure, captured: $0.captured)
            },
            overall: request(result.overall),
            requests: result.requests.map(request),
            thresholds: report.thresholds.map {
                ThresholdVerdict(
                    threshold: $0.threshold.source,
                    passed: $0.passed,
                    measured: $0.measured,
                    limit: $0.threshold.limit,
                    explanation: $0.explanation
                )
            },
            timeline: result.timeline,
            outcomes: result.outcomes
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(document)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// The HdrHistogram percentile distribution (`.hgrm`), values in milliseconds, readable by the HdrHistogram plotter.
public enum HgrmReport {
    /// Renders the distribution of a request result.
    ///
    /// - Parameters:
    ///   - request: The result (usually ``LoadResult/overall``).
    ///   - corrected: Latency from the intended send time (true) or service time (false).
    public static func render(_ request: RequestResult, corrected: Bool = true) -> String {
        var text = ""
        let histogram = corrected ? request.latencyHistogram : request.serviceTimeHistogram
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000, percentileTicksPerHalfDistance: 5)
        return text
    }
}
