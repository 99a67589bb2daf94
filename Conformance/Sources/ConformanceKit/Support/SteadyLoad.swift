import Foundation
import LoadTestKit

/// Open-model load through the gateway with the load generator's engine (latency from intended send times, every
/// outcome recorded), for the failover, alert and autoscaling checks.
public struct SteadyLoad: Sendable {
    /// What the load saw.
    public struct Summary: Sendable, CustomStringConvertible {
        public var sent: Int
        public var statuses: [Int: Int]
        /// Requests without a response or answered 5xx (a 4xx is the service speaking, not a failure to serve).
        public var failed: Int
        public var errors: [String: Int]
        /// Offsets (seconds from the start of the load) of the first and last failure.
        public var failureWindow: (first: Double, last: Double)?
        public var p99Milliseconds: Double
        public var cancelled: Bool

        public var description: String {
            let statuses = self.statuses.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", ")
            let errors = self.errors.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", ")
            var text = "\(self.sent) requests, \(self.failed) failed; statuses \(statuses.isEmpty ? "none" : statuses)"
            if !errors.isEmpty { text += "; errors \(errors)" }
            if let window = self.failureWindow { text += String(format: "; failures between %.2f s and %.2f s", window.first, window.last) }
            return text + String(format: "; p99 %.1f ms", self.p99Milliseconds)
        }
    }

    public var baseURL: String
    public var path: String
    public var rate: Double
    public var duration: Duration
    public var headers: [(String, String)]

    public init(baseURL: String, path: String, rate: Double, duration: Duration, headers: [(String, String)] = []) {
        self.baseURL = baseURL
        self.path = path
        self.rate = rate
        self.duration = duration
        self.headers = headers
    }

    /// Runs the load to its end (or until the task is cancelled).
    public func run() async throws -> Summary {
        let configuration = LoadConfiguration(
            name: "conformance",
            baseURL: try BaseURL(self.baseURL),
            requests: [
                RequestDefinition(
                    name: "steady",
                    method: "GET",
                    path: .literal(self.path),
                    headers: self.headers.map { HeaderField(name: $0.0, value: .literal($0.1)) },
                    expectedStatuses: ExpectedStatuses(Array(200..<500))
                )
            ],
            model: .open(.constant(self.rate)),
            duration: self.duration,
            maxRequests: Int(self.rate * self.duration.asSeconds) + 10,
            requestTimeout: .seconds(10),
            threads: 2,
            recordsOutcomes: true,
            maximumRecordedOutcomes: 500_000,
            progressInterval: .seconds(3600)
        )
        let result = try await LoadRunner.run(configuration)
        var statuses: [Int: Int] = [:]
        var errors: [String: Int] = [:]
        var failed = 0
        var window: (Double, Double)?
        for outcome in result.outcomes ?? [] {
            if let status = outcome.status { statuses[status, default: 0] += 1 }
            // A redirect or a 429 is not the answer the load asked for: only a 2xx counts as served.
            let failure = !(200..<300).contains(outcome.status ?? 0)
            if let error = outcome.error, error != .unexpectedStatus { errors[error.description, default: 0] += 1 }
            if failure {
                failed += 1
                window = (min(window?.0 ?? .infinity, outcome.intendedOffset), max(window?.1 ?? 0, outcome.intendedOffset))
            }
        }
        return Summary(
            sent: (result.outcomes ?? []).count,
            statuses: statuses,
            failed: failed,
            errors: errors,
            failureWindow: window,
            p99Milliseconds: result.overall.latency(atPercentile: 99).asSeconds * 1000,
            cancelled: result.cancelled
        )
    }
}

/// Default gateway paths that reach each service with a GET answered 200 (or a 4xx from the service itself).
public enum ServicePaths {
    public static func readPath(for service: String) -> String {
        switch service {
        case "users": "/api/users/health"
        case "payments-python": "/api/payments-python/health"
        case "payments-java": "/api/payments-java/actuator/health/liveness"
        case "gateway": "/actuator/health/liveness"
        default: "/api/reviews/book/conformance-load?page=1&limit=5"
        }
    }
}
