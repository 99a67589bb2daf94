/// When a replica is taken out of rotation after failing requests (passive health checking, "outlier ejection").
public struct EjectionPolicy: Sendable, Equatable {
    /// Consecutive failed requests that eject a replica.
    public var consecutiveFailures: Int
    /// How long the first ejection lasts; each further ejection soon after a re-admission lasts twice as long.
    public var baseDuration: Duration
    /// The longest ejection.
    public var maxDuration: Duration
    /// Consecutive failed readiness checks that take a replica out of rotation (one passing check brings it back), so
    /// that one slow check on a loaded machine does not remove a healthy replica.
    public var checkFailures: Int
    /// The largest share of an upstream's replicas, in percent (0...100), that failed requests may eject at once: a
    /// replica is ejected only when, counting it, at most this share of the replicas is ejected (Envoy's
    /// `max_ejection_percent` with `always_eject_one_host` off). So with 50: one of two replicas, two of four, none of
    /// one — a lone replica stays in rotation whatever it answers; with 100 every replica may go. Replicas that fail
    /// their readiness checks are taken out regardless, and do not count as ejected.
    public var maxEjectionPercent: Int

    public init(
        consecutiveFailures: Int = 3,
        baseDuration: Duration = .seconds(10),
        maxDuration: Duration = .seconds(300),
        checkFailures: Int = 2,
        maxEjectionPercent: Int = 50
    ) {
        self.consecutiveFailures = consecutiveFailures
        self.baseDuration = baseDuration
        self.maxDuration = maxDuration
        self.checkFailures = max(1, checkFailures)
        self.maxEjectionPercent = min(100, max(0, maxEjectionPercent))
    }

    /// Whether one more replica may be ejected when `ejected` of `replicas` already are.
    public func allowsEjection(ejected: Int, of replicas: Int) -> Bool {
        (ejected + 1) * 100 <= self.maxEjectionPercent * replicas
    }

    /// The length of ejection number `count` (1-based) in a row.
    public func duration(ofEjection count: Int) -> Duration {
        var duration = self.baseDuration
        for _ in 1..<max(count, 1) {
            duration = duration * 2
            if duration >= self.maxDuration { return self.maxDuration }
        }
        return min(duration, self.maxDuration)
    }
}

/// The health of one replica: its active readiness check, and passive ejection after consecutive failed requests
/// with timed re-admission. Pure: time is passed in.
///
/// A replica is available unless its last `checkFailures` readiness checks failed, and it is not ejected. An ejection
/// ends by itself; when the replica fails again within `baseDuration` of its re-admission, the next ejection lasts
/// twice as long (up to `maxDuration`), otherwise the doubling starts over.
public struct ReplicaHealth: Sendable, Equatable {
    public private(set) var isActivelyHealthy = true
    public private(set) var consecutiveCheckFailures = 0
    public private(set) var consecutiveFailures = 0
    public private(set) var ejectedUntil: ContinuousClock.Instant?
    /// Ejections in a row (each within `baseDuration` of the previous re-admission).
    public private(set) var ejections = 0

    public init() {}

    public func isEjected(at now: ContinuousClock.Instant) -> Bool {
        guard let ejectedUntil else { return false }
        return now < ejectedUntil
    }

    public func isAvailable(at now: ContinuousClock.Instant) -> Bool {
        self.isActivelyHealthy && !self.isEjected(at: now)
    }

    /// Records the result of an active readiness check.
    public mutating func recordCheck(healthy: Bool, failuresToFail: Int = 1) {
        if healthy {
            self.consecutiveCheckFailures = 0
            self.isActivelyHealthy = true
        } else {
            self.consecutiveCheckFailures += 1
            if self.consecutiveCheckFailures >= failuresToFail { self.isActivelyHealthy = false }
        }
    }

    public mutating func recordSuccess(at now: ContinuousClock.Instant) {
        self.consecutiveFailures = 0
    }

    /// Records a failed request; returns the ejection's length when this failure ejects the replica.
    /// - Parameter mayEject: false when ejecting the replica would exceed ``EjectionPolicy/maxEjectionPercent``; the
    ///   failures still count, so the replica is ejected at its next failure once the share allows it.
    public mutating func recordFailure(at now: ContinuousClock.Instant, policy: EjectionPolicy, mayEject: Bool = true) -> Duration? {
        // Requests that were already under way when the replica was ejected do not extend the ejection.
        guard !self.isEjected(at: now) else { return nil }
        self.consecutiveFailures += 1
        guard self.consecutiveFailures >= policy.consecutiveFailures, mayEject else { return nil }
        if let ejectedUntil, now - ejectedUntil >= policy.baseDuration { self.ejections = 0 }
        self.ejections += 1
        let duration = policy.duration(ofEjection: self.ejections)
        self.ejectedUntil = now + duration
        self.consecutiveFailures = 0
        return duration
    }
}
