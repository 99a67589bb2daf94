import Synchronization

/// Token-bucket rate limiting per client key: `burst` tokens, refilled at `perMinute` tokens a minute.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let burst: Double
    public let perSecond: Double
    private let buckets = Mutex([String: Bucket]())

    public init(perMinute: Int, burst: Int) {
        self.perSecond = Double(perMinute) / 60
        self.burst = Double(max(1, burst))
    }

    /// Takes one token for `key`; returns nil when allowed, else the whole seconds to wait.
    public func acquire(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        self.buckets.withLock { buckets in
            if buckets.count > 100_000 { buckets.removeAll(keepingCapacity: true) }
            var bucket = buckets[key] ?? Bucket(tokens: self.burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(self.burst, bucket.tokens + seconds * self.perSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            guard self.perSecond > 0 else { return 60 }
            return max(1, Int(((1 - bucket.tokens) / self.perSecond).rounded(.up)))
        }
    }
}
