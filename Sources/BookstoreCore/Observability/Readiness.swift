import Synchronization

/// The dependencies a service needs to be ready, and whether it is shutting down.
///
/// Liveness never consults this; readiness reports every check by name, and turns false as soon as a graceful
/// shutdown begins, before the server stops accepting connections. A check registered as not `critical` is a
/// dependency the replica can ride out (the broker, whose events wait in the durable outbox): it is reported in the
/// details and through `observe`, but never takes the replica out of rotation — otherwise one broker outage would
/// make every replica of every service unready at once.
public final class Readiness: Sendable {
    public typealias Check = @Sendable () async -> Bool

    private let checks: Mutex<[(name: String, critical: Bool, check: Check)]>
    private let draining: Atomic<Bool>
    private let observe: @Sendable (_ name: String, _ up: Bool) -> Void

    /// - Parameter observe: called with each check's result on every evaluation (the `dependency_up` gauge).
    public init(observe: @escaping @Sendable (_ name: String, _ up: Bool) -> Void = { _, _ in }) {
        self.checks = Mutex([])
        self.draining = Atomic(false)
        self.observe = observe
    }

    /// Adds a named dependency check (for example `database` or `broker`).
    /// - Parameter critical: whether the replica cannot serve without it (its database); false for a dependency it
    ///   rides out, which is reported but does not fail readiness.
    public func register(_ name: String, critical: Bool = true, check: @escaping Check) {
        self.checks.withLock { $0.append((name, critical, check)) }
    }

    public func beginDraining() { self.draining.store(true, ordering: .relaxed) }
    public var isDraining: Bool { self.draining.load(ordering: .relaxed) }

    /// The result of every check, in registration order; ready when not draining and every critical check is up.
    public func evaluate() async -> (ready: Bool, checks: [(name: String, up: Bool)]) {
        let checks = self.checks.withLock { $0 }
        var results: [(name: String, up: Bool)] = []
        var ready = !self.isDraining
        for (name, critical, check) in checks {
            let up = await check()
            self.observe(name, up)
            results.append((name, up))
            if critical, !up { ready = false }
        }
        return (ready, results)
    }
}
