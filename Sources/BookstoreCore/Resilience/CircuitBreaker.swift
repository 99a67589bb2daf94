import Prometheus
import Synchronization

/// The state of a circuit breaker, with the values exported as `circuit_breaker_state`.
public enum CircuitState: Int, Sendable {
    case closed = 0
    case halfOpen = 1
    case open = 2
}

/// The pure state machine of a circuit breaker; time is passed in, so it is tested without sleeping.
///
/// Closed: calls pass; `failureThreshold` consecutive failures open it. Open: calls are refused until
/// `openDuration` has passed, then it is half-open. Half-open: up to `halfOpenProbes` calls pass as probes; a
/// probe's success closes it, a probe's failure opens it again.
public struct CircuitBreakerStateMachine: Sendable {
    public struct Configuration: Sendable {
        public var failureThreshold: Int
        public var openDuration: Duration
        public var halfOpenProbes: Int

        public init(failureThreshold: Int = 5, openDuration: Duration = .seconds(30), halfOpenProbes: Int = 1) {
            self.failureThreshold = failureThreshold
            self.openDuration = openDuration
            self.halfOpenProbes = halfOpenProbes
        }
    }

    public let configuration: Configuration
    public private(set) var state: CircuitState = .closed
    private var consecutiveFailures = 0
    private var openedAt: ContinuousClock.Instant?
    private var probesInFlight = 0

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The state as of `now` (an open breaker whose time is up reads as half-open).
    public func state(at now: ContinuousClock.Instant) -> CircuitState {
        if self.state == .open, let openedAt, now - openedAt >= self.configuration.openDuration { return .halfOpen }
        return self.state
    }

    /// Whether a call may proceed now; a permitted half-open call is a probe and must be reported.
    public mutating func acquire(at now: ContinuousClock.Instant) -> Bool {
        switch self.state(at: now) {
        case .closed:
            return true
        case .open:
            return false
        case .halfOpen:
            if self.state == .open {
                self.state = .halfOpen
                self.probesInFlight = 0
            }
            guard self.probesInFlight < self.configuration.halfOpenProbes else { return false }
            self.probesInFlight += 1
            return true
        }
    }

    public mutating func recordSuccess(at now: ContinuousClock.Instant) {
        self.consecutiveFailures = 0
        if self.state == .halfOpen {
            self.state = .closed
            self.probesInFlight = 0
            self.openedAt = nil
        }
    }

    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        switch self.state {
        case .closed:
            self.consecutiveFailures += 1
            if self.consecutiveFailures >= self.configuration.failureThreshold { self.trip(at: now) }
        case .halfOpen:
            self.trip(at: now)
        case .open:
            break
        }
    }

    /// Evidence from outside the calls — a passing readiness check — that the protected dependency is back: a breaker
    /// whose open period is over closes, so the traffic that follows an idle spell is not refused while a single probe
    /// is in flight. An open breaker within its open period stays open (the fail-fast period is kept).
    /// - Returns: whether the breaker closed.
    @discardableResult
    public mutating func recordPassingCheck(at now: ContinuousClock.Instant) -> Bool {
        guard self.state != .closed, self.state(at: now) == .halfOpen else { return false }
        self.state = .closed
        self.probesInFlight = 0
        self.openedAt = nil
        self.consecutiveFailures = 0
        return true
    }

    private mutating func trip(at now: ContinuousClock.Instant) {
        self.state = .open
        self.openedAt = now
        self.probesInFlight = 0
        self.consecutiveFailures = 0
    }
}

/// Thrown instead of calling the protected operation while the breaker is open.
public struct CircuitOpenError: Error, Sendable {
    public let name: String
}

/// A thread-safe circuit breaker that exports its state as `circuit_breaker_state{name}`.
public final class CircuitBreaker: Sendable {
    public let name: String
    private let machine: Mutex<CircuitBreakerStateMachine>
    private let gauge: Gauge?

    public init(name: String, configuration: CircuitBreakerStateMachine.Configuration, metrics: ServiceMetrics?) {
        self.name = name
        self.machine = Mutex(CircuitBreakerStateMachine(configuration: configuration))
        self.gauge = metrics?.gauge("circuit_breaker_state", labels: [("name", name)], help: "0 closed, 1 half-open, 2 open")
        self.gauge?.set(to: 0)
    }

    public var state: CircuitState { self.machine.withLock { $0.state(at: .now) } }

    /// Whether a call may proceed now (see ``CircuitBreakerStateMachine/acquire(at:)``).
    public func acquire(at now: ContinuousClock.Instant = .now) -> Bool {
        let (allowed, state) = self.machine.withLock { machine in
            let allowed = machine.acquire(at: now)
            return (allowed, machine.state)
        }
        self.gauge?.set(to: Double(state.rawValue))
        return allowed
    }

    public func recordSuccess(at now: ContinuousClock.Instant = .now) {
        let state = self.machine.withLock { machine in
            machine.recordSuccess(at: now)
            return machine.state
        }
        self.gauge?.set(to: Double(state.rawValue))
    }

    public func recordFailure(at now: ContinuousClock.Instant = .now) {
        let state = self.machine.withLock { machine in
            machine.recordFailure(at: now)
            return machine.state
        }
        self.gauge?.set(to: Double(state.rawValue))
    }

    /// See ``CircuitBreakerStateMachine/recordPassingCheck(at:)``.
    /// - Returns: whether the breaker closed.
    @discardableResult
    public func recordPassingCheck() -> Bool {
        let (closed, state) = self.machine.withLock { machine in
            (machine.recordPassingCheck(at: .now), machine.state)
        }
        self.gauge?.set(to: Double(state.rawValue))
        return closed
    }

    /// Runs `operation` if the breaker allows it, recording its outcome.
    /// - Parameter isFailure: which errors count against the breaker (default: all).
    public func run<T: Sendable>(
        isFailure: (any Error) -> Bool = { _ in true },
        _ operation: () async throws -> T
    ) async throws -> T {
        guard self.acquire() else { throw CircuitOpenError(name: self.name) }
        do {
            let value = try await operation()
            self.recordSuccess()
            return value
        } catch {
            if isFailure(error) { self.recordFailure() } else { self.recordSuccess() }
            throw error
        }
    }
}
