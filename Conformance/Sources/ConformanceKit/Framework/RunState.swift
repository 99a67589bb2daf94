import Foundation

/// What checks of one run share: fixtures, values handed from one check to the next (the replica a failover
/// check killed), and clean-up actions run at the end whatever happened.
public actor RunState {
    public let options: RunOptions
    private var values: [String: any Sendable] = [:]
    private var cleanups: [(label: String, action: @Sendable () async -> Void)] = []
    let fixtureCache = FixtureCache()

    public init(options: RunOptions) {
        self.options = options
    }

    public func set(_ key: String, _ value: (any Sendable)?) {
        self.values[key] = value
    }

    public func value<T: Sendable>(_ key: String, as type: T.Type = T.self) -> T? {
        self.values[key] as? T
    }

    /// Registers an action for the end of the run (clean-ups run last-in, first-out).
    public func addCleanup(_ label: String, _ action: @escaping @Sendable () async -> Void) {
        self.cleanups.append((label, action))
    }

    /// Removes the clean-ups registered under `label` (the check restored things itself).
    public func removeCleanups(_ label: String) {
        self.cleanups.removeAll { $0.label == label }
    }

    /// Runs and forgets every clean-up; returns their labels.
    @discardableResult
    public func runCleanups() async -> [String] {
        let pending = self.cleanups
        self.cleanups = []
        for cleanup in pending.reversed() { await cleanup.action() }
        return pending.map(\.label)
    }
}
