import Synchronization

/// Token-bucket rate limiting per client key: `burst` tokens, refilled at `perMinute` tokens a minute.
///
/// The table of buckets is bounded: it holds at most `capacity` clients. When it is full, a new client takes the place
/// of idle ones — buckets that have refilled to `burst`, which would be recreated identical — and when none is idle,
/// it takes from one overflow bucket that all such clients share. So a flood of new (say, spoofed) addresses never
/// resets a bucket that is in use: a drained client stays limited, and the flood is limited as one client. The table
/// is swept for idle buckets at most once a second.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct Table {
        var buckets: [String: Bucket] = [:]
        var overflow: Bucket?
        var lastSweep: ContinuousClock.Instant?
    }

    public let burst: Double
    public let perSecond: Double
    /// The most clients with a bucket of their own.
    public let capacity: Int
    private let table = Mutex(Table())

    /// - Parameter capacity: the most clients with a bucket of their own (at least 1).
    public init(perMinute: Int, burst: Int, capacity: Int = 100_000) {
        self.perSecond = Double(perMinute) / 60
        self.burst = Double(max(1, burst))
        self.capacity = max(1, capacity)
    }

    /// The clients that have a bucket of their own.
    public var clientCount: Int { self.table.withLock { $0.buckets.count } }

    /// Takes one token for `key`; returns nil when allowed, else the whole seconds to wait.
    public func acquire(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        self.table.withLock { table in
            if let index = table.buckets.index(forKey: key) {
                // Updated in place: one hash of the key per request.
                return self.take(from: &table.buckets.values[index], now: now)
            }
            if table.buckets.count >= self.capacity { self.sweep(&table, now: now) }
            if table.buckets.count < self.capacity {
                var bucket = Bucket(tokens: self.burst, updated: now)
                defer { table.buckets[key] = bucket }
                return self.take(from: &bucket, now: now)
            }
            var overflow = table.overflow ?? Bucket(tokens: self.burst, updated: now)
            defer { table.overflow = overflow }
            return self.take(from: &overflow, now: now)
        }
    }

    /// Refills `bucket` to `now` and takes a token.
    private func take(from bucket: inout Bucket, now: ContinuousClock.Instant) -> Int? {
        bucket.tokens = self.tokens(of: bucket, at: now)
        bucket.updated = now
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        guard self.perSecond > 0 else { return 60 }
        return max(1, Int(((1 - bucket.tokens) / self.perSecond).rounded(.up)))
    }

    private func tokens(of bucket: Bucket, at now: ContinuousClock.Instant) -> Double {
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(self.burst, bucket.tokens + max(0, seconds) * self.perSecond)
    }

    /// Removes the idle buckets (refilled to `burst`), at most once a second.
    private func sweep(_ table: inout Table, now: ContinuousClock.Instant) {
        if let last = table.lastSweep, now - last < .seconds(1) { return }
        table.lastSweep = now
        table.buckets = table.buckets.filter { self.tokens(of: $0.value, at: now) < self.burst }
    }
}
