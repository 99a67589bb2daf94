import Synchronization

/// The dependencies a service needs to be ready, and whether it is shutting down.
///
/// Liveness never consults this; readiness reports every check by name, and turns false as soon as a graceful
/// shutdown begins, before the server stops accepting connections.
public final class Readiness: Sendable {
    public typealias Check = @Sendable () async -> Bool

    private let checks: Mutex<[(name: String, check: Check)]>
    private let draining: Atomic<Bool>

    public init() {
        self.checks = Mutex([])
        self.draining = Atomic(false)
    }

    /// Adds a named dependency check (for example `database` or `broker`).
    public func register(_ name: String, check: @escaping Check) {
        self.checks.withLock { $0.append((name, check)) }
    }

    public func beginDraining() { self.draining.store(true, ordering: .relaxed) }
    public var isDraining: Bool { self.draining.load(ordering: .relaxed) }

    /// The result of every check, in registration order.
    public func evaluate() async -> (ready: Bool, checks: [(name: String, up: Bool)]) {
        let checks = self.checks.withLock { $0 }
        var results: [(name: String, up: Bool)] = []
        for (name, check) in checks {
            results.append((name, await check()))
        }
        let ready = !self.isDraining && results.allSatisfy(\.up)
        return (ready, results)
    }
}
