import BookstoreCore

/// The gateway's settings (SPEC §5), read once at start-up. Every one has a default; durations are in milliseconds
/// unless the name says otherwise.
public struct GatewayConfiguration: Sendable {
    /// `GATEWAY_CONNECT_TIMEOUT_MS` (3000): establishing a connection to a replica.
    public var connectTimeout: Duration
    /// `GATEWAY_READ_TIMEOUT_MS` / `GATEWAY_RESPONSE_TIMEOUT_MS` (10000): from the request being sent until the response
    /// head, and between two reads of the response body.
    public var responseTimeout: Duration
    /// `GATEWAY_ROUTE_TIMEOUTS_MS`: per-route response timeouts, `prefix=ms` comma-separated
    /// (e.g. `/api/payments-java=20000`); the longest matching prefix wins.
    public var routeResponseTimeouts: [String: Duration]
    /// `GATEWAY_RETRY_ATTEMPTS` (3): attempts per request, the first included.
    public var maxAttempts: Int
    /// `GATEWAY_RETRY_BASE_DELAY_MS` (10) and `GATEWAY_RETRY_MAX_DELAY_MS` (250): exponential backoff with full jitter.
    public var retryBackoff: RetryPolicy
    /// `GATEWAY_RETRY_BUDGET_PERCENT` (20) and `GATEWAY_RETRY_BUDGET_MIN_PER_SECOND` (3): retries allowed per upstream
    /// over a 10 s sliding window.
    public var retryBudget: RetryBudget.Configuration
    /// `GATEWAY_RETRY_BODY_LIMIT_BYTES` (65536): request bodies up to this size are kept for a retry; larger ones stream
    /// without retry.
    public var replayableBodyLimit: Int
    /// `GATEWAY_HEALTH_INTERVAL_MS` (2000): active readiness checks of every replica; 0 turns them off.
    public var healthCheckInterval: Duration
    /// `GATEWAY_HEALTH_TIMEOUT_MS` (1000): one readiness check. `GATEWAY_HEALTH_FAILURES` (2, in ``ejection``):
    /// consecutive failed checks that take a replica out.
    public var healthCheckTimeout: Duration
    /// `GATEWAY_EJECT_FAILURES` (3), `GATEWAY_EJECT_SECONDS` (10, doubling on repeat), `GATEWAY_EJECT_MAX_SECONDS` (300),
    /// `GATEWAY_EJECT_MAX_PERCENT` (50, 0...100: the largest share of an upstream's replicas that failed requests may
    /// eject at once; with 50 a lone replica is never ejected, see ``EjectionPolicy/maxEjectionPercent``).
    public var ejection: EjectionPolicy
    /// `GATEWAY_BREAKER_FAILURES` (5), `GATEWAY_BREAKER_OPEN_MS` (10000), `GATEWAY_BREAKER_PROBES` (1).
    public var breaker: CircuitBreakerStateMachine.Configuration
    /// `GATEWAY_DNS_REFRESH_SECONDS` (5): how often host names are resolved again.
    public var dnsRefresh: Duration
    /// `GATEWAY_RATE_LIMIT_PER_SECOND` (1000; 0 turns limiting off) and `GATEWAY_RATE_LIMIT_BURST` (2000), per client.
    public var rateLimitPerSecond: Int
    public var rateLimitBurst: Int
    /// `GATEWAY_RATE_LIMIT_MAX_CLIENTS` (100000): clients with a bucket of their own; when the table is full, idle
    /// buckets make room and otherwise new clients share one bucket (``RateLimiter``).
    public var rateLimitMaxClients: Int
    /// `GATEWAY_TRUSTED_PROXIES` (none): comma-separated IPv4/IPv6 addresses and CIDR networks of the proxies in front of
    /// the gateway (an ingress controller, a load balancer). The client of a request is its TCP peer; only when the peer
    /// is one of these is `X-Forwarded-For` believed (from the right, the first hop that is not a trusted proxy) and
    /// forwarded with the peer appended. From any other peer the gateway discards `X-Forwarded-For` and sends the
    /// peer alone. See ``TrustedProxies``. (`TRUSTED_PROXIES`, the services' setting, is not used by the gateway.)
    public var trustedProxies: TrustedProxies
    /// `GATEWAY_MAX_IDLE_CONNECTIONS` (256): idle keep-alive connections kept per replica and event loop.
    public var maxIdleConnectionsPerReplica: Int
    /// `GATEWAY_CLIENT_IDLE_TIMEOUT_MS` (60000): a client connection that has not sent a complete request head for
    /// this long after connecting or after its last response (an idle keep-alive connection, or a head sent too
    /// slowly) is closed.
    public var clientIdleTimeout: Duration
    /// `GATEWAY_CLIENT_WRITE_TIMEOUT_MS` (30000): a client connection that takes none of a response for this long (its
    /// socket stays unwritable: the client stopped reading) is closed, and the response's upstream connection with it.
    public var clientWriteTimeout: Duration
    /// `GATEWAY_CLIENT_DRAIN_TIMEOUT_MS` (5000): after an answer sent before the end of its request's body (an error
    /// at the edge, a failed exchange, an upstream's early response), the rest of the body must arrive within this
    /// long, or the connection is closed.
    public var clientDrainTimeout: Duration
    /// `CORS_ALLOWED_ORIGIN` (`*`).
    public var corsAllowedOrigin: String
    /// `MAX_BODY_BYTES` (common setting): larger request bodies get 413, also when chunked.
    public var maxBodyBytes: Int

    public init(settings: Settings, maxBodyBytes: Int) throws(ConfigurationError) {
        func milliseconds(_ key: String, _ defaultValue: Int, _ range: ClosedRange<Int> = 1...3_600_000) throws(ConfigurationError) -> Duration {
            .milliseconds(try settings.int(key, default: defaultValue, range: range))
        }
        self.connectTimeout = try milliseconds("GATEWAY_CONNECT_TIMEOUT_MS", 3000)
        let readTimeout = try settings.int("GATEWAY_READ_TIMEOUT_MS", default: 10_000, range: 1...3_600_000)
        self.responseTimeout = try milliseconds("GATEWAY_RESPONSE_TIMEOUT_MS", readTimeout)
        self.routeResponseTimeouts = [:]
        for entry in settings.list("GATEWAY_ROUTE_TIMEOUTS_MS") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("/"), let value = Int(parts[1]), (1...3_600_000).contains(value) else {
                throw ConfigurationError("invalid GATEWAY_ROUTE_TIMEOUTS_MS entry \(entry): expected /prefix=milliseconds")
            }
            self.routeResponseTimeouts[parts[0]] = .milliseconds(value)
        }
        self.maxAttempts = try settings.int("GATEWAY_RETRY_ATTEMPTS", default: 3, range: 1...10)
        self.retryBackoff = RetryPolicy(
            maxAttempts: self.maxAttempts,
            baseDelay: try milliseconds("GATEWAY_RETRY_BASE_DELAY_MS", 10, 0...60_000),
            maxDelay: try milliseconds("GATEWAY_RETRY_MAX_DELAY_MS", 250, 0...60_000)
        )
        self.retryBudget = RetryBudget.Configuration(
            ratio: Double(try settings.int("GATEWAY_RETRY_BUDGET_PERCENT", default: 20, range: 0...1000)) / 100,
            minRetriesPerSecond: try settings.int("GATEWAY_RETRY_BUDGET_MIN_PER_SECOND", default: 3, range: 0...100_000)
        )
        self.replayableBodyLimit = try settings.int("GATEWAY_RETRY_BODY_LIMIT_BYTES", default: 64 << 10, range: 0...(16 << 20))
        self.healthCheckInterval = try milliseconds("GATEWAY_HEALTH_INTERVAL_MS", 2000, 0...3_600_000)
        self.healthCheckTimeout = try milliseconds("GATEWAY_HEALTH_TIMEOUT_MS", 1000)
        self.ejection = EjectionPolicy(
            consecutiveFailures: try settings.int("GATEWAY_EJECT_FAILURES", default: 3, range: 1...1_000_000),
            baseDuration: .seconds(try settings.double("GATEWAY_EJECT_SECONDS", default: 10, range: 0.001...86_400)),
            maxDuration: .seconds(try settings.double("GATEWAY_EJECT_MAX_SECONDS", default: 300, range: 0.001...86_400)),
            checkFailures: try settings.int("GATEWAY_HEALTH_FAILURES", default: 2, range: 1...100),
            maxEjectionPercent: try settings.int("GATEWAY_EJECT_MAX_PERCENT", default: 50, range: 0...100)
        )
        self.breaker = CircuitBreakerStateMachine.Configuration(
            failureThreshold: try settings.int("GATEWAY_BREAKER_FAILURES", default: 5, range: 1...1_000_000),
            openDuration: try milliseconds("GATEWAY_BREAKER_OPEN_MS", 10_000),
            halfOpenProbes: try settings.int("GATEWAY_BREAKER_PROBES", default: 1, range: 1...1000)
        )
        self.dnsRefresh = .seconds(try settings.double("GATEWAY_DNS_REFRESH_SECONDS", default: 5, range: 0.05...3600))
        self.rateLimitPerSecond = try settings.int("GATEWAY_RATE_LIMIT_PER_SECOND", default: 1000, range: 0...1_000_000_000)
        self.rateLimitBurst = try settings.int("GATEWAY_RATE_LIMIT_BURST", default: 2000, range: 1...1_000_000_000)
        self.rateLimitMaxClients = try settings.int("GATEWAY_RATE_LIMIT_MAX_CLIENTS", default: 100_000, range: 1...100_000_000)
        self.trustedProxies = try TrustedProxies(settings: settings, key: "GATEWAY_TRUSTED_PROXIES")
        self.maxIdleConnectionsPerReplica = try settings.int("GATEWAY_MAX_IDLE_CONNECTIONS", default: 256, range: 0...100_000)
        self.clientIdleTimeout = try milliseconds("GATEWAY_CLIENT_IDLE_TIMEOUT_MS", 60_000, 100...3_600_000)
        self.clientWriteTimeout = try milliseconds("GATEWAY_CLIENT_WRITE_TIMEOUT_MS", 30_000, 100...3_600_000)
        self.clientDrainTimeout = try milliseconds("GATEWAY_CLIENT_DRAIN_TIMEOUT_MS", 5000, 100...3_600_000)
        self.corsAllowedOrigin = settings.string("CORS_ALLOWED_ORIGIN", default: "*")
        self.maxBodyBytes = maxBodyBytes
    }

    /// The response timeout of a route: the longest configured prefix of `routePrefix`, else the default.
    func responseTimeout(forRoute routePrefix: String) -> Duration {
        var best: (length: Int, timeout: Duration)?
        for (prefix, timeout) in self.routeResponseTimeouts
        where routePrefix == prefix || routePrefix.hasPrefix(prefix.hasSuffix("/") ? prefix : prefix + "/") {
            if best == nil || prefix.count > best!.length { best = (prefix.count, timeout) }
        }
        return best?.timeout ?? self.responseTimeout
    }
}
