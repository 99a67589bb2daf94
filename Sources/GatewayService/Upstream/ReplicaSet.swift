import BookstoreCore

/// The replicas of one upstream with their health and outstanding requests, and the choice of a replica for each
/// attempt. Pure: time and randomness are passed in; ``Upstream`` guards it with a lock.
struct ReplicaSet: Sendable {
    struct Member: Sendable {
        let endpoint: ReplicaEndpoint
        var health = ReplicaHealth()
        var outstanding = 0
    }

    private(set) var members: [Member] = []
    let policy: EjectionPolicy
    var generator: SeededGenerator

    init(policy: EjectionPolicy, seed: UInt64) {
        self.policy = policy
        self.generator = SeededGenerator(seed: seed)
    }

    var endpoints: [ReplicaEndpoint] { self.members.map(\.endpoint) }

    /// Replaces the replicas, keeping the health and load of those that stay (same `ip:port`).
    /// - Returns: the endpoints to use (existing objects for kept replicas).
    @discardableResult
    mutating func replace(with endpoints: [ReplicaEndpoint]) -> [ReplicaEndpoint] {
        var members: [Member] = []
        for endpoint in endpoints where !members.contains(where: { $0.endpoint.key == endpoint.key }) {
            if let existing = self.members.first(where: { $0.endpoint.key == endpoint.key }) {
                members.append(existing)
            } else {
                members.append(Member(endpoint: endpoint))
            }
        }
        self.members = members
        return self.endpoints
    }

    /// Chooses a replica for an attempt and counts it as outstanding: power-of-two-choices over the available
    /// replicas not in `tried` (or, when every available one was tried, over all available ones). Nil: none available.
    mutating func choose(excluding tried: [ReplicaEndpoint], at now: ContinuousClock.Instant) -> ReplicaEndpoint? {
        let count = self.members.count
        guard count > 0 else { return nil }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { candidates -> ReplicaEndpoint? in
            var found = 0
            for index in 0..<count where self.members[index].health.isAvailable(at: now) {
                let endpoint = self.members[index].endpoint
                if !tried.isEmpty, tried.contains(where: { $0 === endpoint }) { continue }
                candidates[found] = index
                found += 1
            }
            if found == 0, !tried.isEmpty {
                for index in 0..<count where self.members[index].health.isAvailable(at: now) {
                    candidates[found] = index
                    found += 1
                }
            }
            var generator = self.generator
            let choice: Int?
            do {
                // A local copy for the closure; it ends before the mutation below, so no copy-on-write happens.
                let members = self.members
                choice = PowerOfTwoChoices.choose(count: found, load: { members[candidates[$0]].outstanding }, using: &generator)
            }
            self.generator = generator
            guard let chosen = choice else { return nil }
            let index = candidates[chosen]
            self.members[index].outstanding += 1
            return self.members[index].endpoint
        }
    }

    /// Ends an attempt started by ``choose(excluding:at:)``.
    /// - Parameter failed: whether it counts as a failure of the replica (nil: neither success nor failure).
    /// - Returns: the ejection's length when this failure ejected the replica.
    mutating func finish(_ endpoint: ReplicaEndpoint, failed: Bool?, at now: ContinuousClock.Instant) -> Duration? {
        guard let index = self.members.firstIndex(where: { $0.endpoint === endpoint }) else { return nil }
        self.members[index].outstanding -= 1
        switch failed {
        case true?:
            var ejected = 0
            for member in self.members where member.health.isEjected(at: now) { ejected += 1 }
            let mayEject = self.policy.allowsEjection(ejected: ejected, of: self.members.count)
            return self.members[index].health.recordFailure(at: now, policy: self.policy, mayEject: mayEject)
        case false?: self.members[index].health.recordSuccess(at: now)
        case nil: break
        }
        return nil
    }

    /// Records an active readiness check. Returns false when the replica is no longer in the set.
    @discardableResult
    mutating func recordCheck(_ endpoint: ReplicaEndpoint, healthy: Bool) -> Bool {
        guard let index = self.members.firstIndex(where: { $0.endpoint === endpoint }) else { return false }
        self.members[index].health.recordCheck(healthy: healthy, failuresToFail: self.policy.checkFailures)
        return true
    }

    /// Each replica and whether it receives traffic now.
    func availability(at now: ContinuousClock.Instant) -> [(endpoint: ReplicaEndpoint, available: Bool)] {
        self.members.map { ($0.endpoint, $0.health.isAvailable(at: now)) }
    }

    func health(of endpoint: ReplicaEndpoint) -> ReplicaHealth? {
        self.members.first { $0.endpoint === endpoint }?.health
    }

    func outstanding(of endpoint: ReplicaEndpoint) -> Int? {
        self.members.first { $0.endpoint === endpoint }?.outstanding
    }
}
