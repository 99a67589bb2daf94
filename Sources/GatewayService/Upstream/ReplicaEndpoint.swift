import BookstoreCore
import NIOCore
import Prometheus

/// What happened to one attempt at a replica, as counted in `gateway_upstream_requests_total{outcome}`.
enum UpstreamOutcome: Int, CaseIterable, Sendable {
    /// The replica answered with a status below 500.
    case success
    /// The replica answered 5xx.
    case serverError
    /// No connection could be made (refused, unreachable, connect timeout).
    case connectFailure
    /// The connection failed or closed before the response was complete.
    case reset
    /// No response (or no further response bytes) within the response timeout.
    case timeout
    /// The client went away, or the request was cut short (body too large).
    case cancelled

    var label: String {
        switch self {
        case .success: "success"
        case .serverError: "http_5xx"
        case .connectFailure: "connect_error"
        case .reset: "reset"
        case .timeout: "timeout"
        case .cancelled: "cancelled"
        }
    }

    /// Whether the outcome counts against the replica (ejection) and the upstream (circuit breaker); nil: neither way.
    var isFailure: Bool? {
        switch self {
        case .success: false
        case .serverError, .connectFailure, .reset, .timeout: true
        case .cancelled: nil
        }
    }
}

/// One replica: a resolved socket address with the `Host` header and base path to use, and its metric series.
/// Identity matters: the connection pools and the replica set key on the object.
final class ReplicaEndpoint: Sendable, CustomStringConvertible {
    /// `ip:port`, the `replica` metric label.
    let key: String
    let address: SocketAddress
    let authority: String
    let basePath: String
    /// `Host: authority` and the empty line that ends a request head.
    let hostFieldAndEnd: ByteBuffer
    let outcomes: [Counter]
    let ejections: Counter?
    let healthy: Gauge?
    /// `gateway_upstream_request_duration_seconds`: one attempt, from choosing the replica to the end of its response
    /// (or its failure), connection set-up included.
    let latency: DurationHistogram?

    init(address: SocketAddress, target: ReplicaTarget, upstream: String, metrics: ServiceMetrics?) {
        let ip = address.ipAddress ?? target.host
        self.key = ip.contains(":") ? "[\(ip)]:\(target.port)" : "\(ip):\(target.port)"
        self.address = address
        self.authority = target.authority
        self.basePath = target.basePath
        self.hostFieldAndEnd = ByteBuffer(string: "Host: \(target.authority)\r\n\r\n")
        let labels = [("upstream", upstream), ("replica", self.key)]
        self.outcomes =
            metrics.map { metrics in
                UpstreamOutcome.allCases.map { outcome in
                    metrics.counter(
                        "gateway_upstream_requests_total",
                        labels: labels + [("outcome", outcome.label)],
                        help: "Attempts sent to upstream replicas, by outcome"
                    )
                }
            } ?? []
        self.ejections = metrics?.counter("gateway_ejections_total", labels: labels, help: "Replicas ejected after consecutive failures")
        self.healthy = metrics?.gauge("gateway_upstream_healthy", labels: labels, help: "1 when the replica receives traffic")
        self.healthy?.set(to: 1)
        self.latency = metrics?.durationHistogram(
            "gateway_upstream_request_duration_seconds",
            labels: labels,
            help: "Duration of attempts at upstream replicas, connection included"
        )
    }

    /// Counts an attempt's outcome and, when it was sent (`startedAt`), its duration.
    /// - Parameter now: the current time, when the caller has it.
    func record(_ outcome: UpstreamOutcome, startedAt: NIODeadline?, now: NIODeadline? = nil) {
        guard !self.outcomes.isEmpty else { return }
        self.outcomes[outcome.rawValue].increment()
        if let startedAt, let latency = self.latency {
            latency.recordNanoseconds(max(0, ((now ?? .now()) - startedAt).nanoseconds))
        }
    }

    var description: String { self.key }
}
