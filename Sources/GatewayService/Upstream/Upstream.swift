import BookstoreCore
import Logging
import NIOCore
import Prometheus
import Synchronization

/// One upstream service: its configured targets, the replicas they expand to (health, load, ejection), its circuit
/// breaker and retry budget. Thread-safe; the proxy calls ``choose(excluding:)`` and ``finish(_:outcome:)`` around
/// every attempt.
public final class Upstream: Sendable {
    public let name: String
    public let readinessPath: String
    let breaker: CircuitBreaker
    private let configuredTargets: Mutex<[ReplicaTarget]>
    private let replicaSet: Mutex<ReplicaSet>
    private let budget: Mutex<RetryBudget>
    /// Addresses each host name resolved to last time (kept when a resolution fails).
    private let lastResolved: Mutex<[ReplicaTarget: [SocketAddress]]>
    private let retries: Counter?
    private let budgetExhausted: Counter?
    private let metrics: ServiceMetrics?
    private let logger: Logger

    init(
        name: String,
        readinessPath: String,
        targets: [ReplicaTarget],
        configuration: GatewayConfiguration,
        metrics: ServiceMetrics?,
        logger: Logger
    ) {
        self.name = name
        self.readinessPath = readinessPath
        self.configuredTargets = Mutex(targets)
        self.replicaSet = Mutex(ReplicaSet(policy: configuration.ejection, seed: UInt64.random(in: 0...UInt64.max)))
        self.budget = Mutex(RetryBudget(configuration: configuration.retryBudget, now: .now))
        self.lastResolved = Mutex([:])
        self.breaker = CircuitBreaker(name: "upstream:\(name)", configuration: configuration.breaker, metrics: metrics)
        self.retries = metrics?.counter("gateway_retries_total", labels: [("upstream", name)], help: "Attempts retried on another replica")
        self.budgetExhausted = metrics?.counter(
            "gateway_retry_budget_exhausted_total",
            labels: [("upstream", name)],
            help: "Retries not made because the retry budget was spent"
        )
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "upstream.name"] = .string(name)
        self.logger = logger
        // Literal addresses are usable at once; host names wait for the first resolution.
        self.applyResolution([:])
    }

    // MARK: Replicas

    public var targets: [ReplicaTarget] { self.configuredTargets.withLock { $0 } }

    /// Replaces the configured targets; returns whether they changed. Call ``refresh(resolver:)`` afterwards.
    @discardableResult
    public func setTargets(_ targets: [ReplicaTarget]) -> Bool {
        self.configuredTargets.withLock { current in
            guard current != targets else { return false }
            current = targets
            return true
        }
    }

    /// Whether some target is a host name that must be resolved (again) to know the replicas.
    var hasHostNames: Bool { self.targets.contains { !$0.isAddressLiteral } }

    /// The replicas, as `ip:port`.
    public var replicaKeys: [String] { self.replicaSet.withLock { $0.endpoints.map(\.key) } }

    var endpoints: [ReplicaEndpoint] { self.replicaSet.withLock { $0.endpoints } }

    /// Resolves the host names among the targets and updates the replicas (one per address). A failed resolution
    /// keeps that name's previous addresses.
    func refresh(resolver: HostResolver) async {
        var resolved: [ReplicaTarget: [SocketAddress]] = [:]
        for target in self.targets where !target.isAddressLiteral {
            do {
                resolved[target] = try await resolver.resolve(host: target.host, port: target.port)
            } catch {
                self.logger.warning(
                    "Could not resolve upstream host, keeping its previous replicas",
                    metadata: ["upstream.host": .string(target.host), "error.message": .string("\(error)")]
                )
            }
        }
        self.applyResolution(resolved)
    }

    private func applyResolution(_ resolved: [ReplicaTarget: [SocketAddress]]) {
        let targets = self.targets
        let known = self.lastResolved.withLock { last in
            for (target, addresses) in resolved { last[target] = addresses }
            last = last.filter { targets.contains($0.key) }
            return last
        }
        var endpoints: [ReplicaEndpoint] = []
        for target in targets {
            let addresses: [SocketAddress]
            if target.isAddressLiteral {
                addresses = (try? SocketAddress(ipAddress: target.host, port: target.port)).map { [$0] } ?? []
            } else {
                addresses = known[target] ?? []
            }
            for address in addresses {
                endpoints.append(ReplicaEndpoint(address: address, target: target, upstream: self.name, metrics: self.metrics))
            }
        }
        let (before, after) = self.replicaSet.withLock { set in
            let before = set.endpoints.map(\.key)
            set.replace(with: endpoints)
            return (before, set.endpoints.map(\.key))
        }
        if before != after {
            self.logger.info("Upstream replicas changed", metadata: ["upstream.replicas": .string(after.joined(separator: ","))])
        }
        self.updateHealthGauges()
    }

    // MARK: Attempts

    /// Chooses a replica for one attempt (see ``ReplicaSet/choose(excluding:at:)``); nil when none is available.
    func choose(excluding tried: [ReplicaEndpoint], at now: ContinuousClock.Instant = .now) -> ReplicaEndpoint? {
        self.replicaSet.withLock { $0.choose(excluding: tried, at: now) }
    }

    /// Ends an attempt: metrics, passive health of the replica (ejection), and the circuit breaker when the attempt
    /// held a breaker permit.
    ///
    /// The breaker judges requests, not attempts: a failed attempt that is `retried` on another replica counts for
    /// neither side (the request's last attempt does), so one dead replica among healthy ones — which fails fast, so
    /// balancing on outstanding requests sends it many attempts in a row — cannot open the whole upstream's breaker.
    /// The replica's own failures still count for its passive health (ejection).
    /// - Parameter now: the current time, when the caller has it.
    func finish(
        _ endpoint: ReplicaEndpoint,
        outcome: UpstreamOutcome,
        heldBreakerPermit: Bool,
        retried: Bool = false,
        startedAt: NIODeadline? = nil,
        now: NIODeadline? = nil
    ) {
        endpoint.record(outcome, startedAt: startedAt, now: now)
        let failed = outcome.isFailure
        let clock = ContinuousClock.now
        let ejection = self.replicaSet.withLock { $0.finish(endpoint, failed: failed, at: clock) }
        if heldBreakerPermit {
            let judged: Bool? = retried && failed == true ? nil : failed
            switch judged {
            case true?: self.breaker.recordFailure(at: clock)
            case false?: self.breaker.recordSuccess(at: clock)
            case nil:
                // Neither way — but an abandoned probe must still end the half-open state.
                if self.breaker.state == .halfOpen { self.breaker.recordFailure() }
            }
        }
        if let ejection {
            endpoint.ejections?.increment()
            endpoint.healthy?.set(to: 0)
            self.logger.warning(
                "Replica ejected after consecutive failures",
                metadata: [
                    "upstream.replica": .string(endpoint.key),
                    "ejection.seconds": .stringConvertible(Double(ejection.components.seconds) + Double(ejection.components.attoseconds) / 1e18),
                ]
            )
        }
    }

    /// Counts a request's failure for the breaker when its last failed attempt was let off as retried but no retry could
    /// start (no other replica was available).
    func recordUnretriedFailure() {
        self.breaker.recordFailure(at: .now)
    }

    /// Counts a request (not a retry) for the retry budget.
    func recordRequest(at now: ContinuousClock.Instant = .now) {
        self.budget.withLock { $0.recordRequest(at: now) }
    }

    /// Takes a retry from the budget and counts it; false when the budget is spent.
    func tryRetry() -> Bool {
        let allowed = self.budget.withLock { $0.tryRetry(at: .now) }
        if allowed { self.retries?.increment() } else { self.budgetExhausted?.increment() }
        return allowed
    }

    // MARK: Health

    /// Records an active readiness check of a replica.
    func recordCheck(_ endpoint: ReplicaEndpoint, healthy: Bool) {
        let changed = self.replicaSet.withLock { set -> Bool in
            let before = set.health(of: endpoint)?.isActivelyHealthy
            set.recordCheck(endpoint, healthy: healthy)
            return before != nil && before != healthy
        }
        if changed {
            self.logger.notice(
                healthy ? "Replica passed its readiness check" : "Replica failed its readiness check",
                metadata: ["upstream.replica": .string(endpoint.key)]
            )
        }  // A breaker opened by failed requests would otherwise stay half-open through an idle spell, and the first burst
        // after it would be refused but for one probe: a passing check after the open period closes it.
        if healthy, self.breaker.recordPassingCheck() {
            self.logger.notice("Circuit closed by a passing readiness check", metadata: ["upstream.replica": .string(endpoint.key)])
        }
    }

    /// Sets `gateway_upstream_healthy` of every replica (ejections end by themselves, so this runs periodically).
    func updateHealthGauges() {
        for (endpoint, available) in self.replicaSet.withLock({ $0.availability(at: .now) }) {
            endpoint.healthy?.set(to: available ? 1 : 0)
        }
    }

    /// Each replica (`ip:port`) and whether it receives traffic now.
    public var availability: [(replica: String, available: Bool)] {
        self.replicaSet.withLock { $0.availability(at: .now) }.map { ($0.endpoint.key, $0.available) }
    }
}
