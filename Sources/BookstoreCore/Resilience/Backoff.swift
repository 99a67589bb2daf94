/// Exponential backoff with jitter, the one used for every wait between attempts (request retries, gateway retries,
/// replica restarts, broker reconnects). Attempt n (1-based) has the ceiling `c = min(max, base × 2^(n−1))`
/// (saturating); ``Jitter/full`` waits a uniformly random time in `[0, c]` (spreads a herd of retries fastest),
/// ``Jitter/equal`` in `[c/2, c]` (never retries in a hot loop: reconnects).
public struct Backoff: Sendable, Equatable {
    public enum Jitter: Sendable, Equatable {
        case full
        case equal
    }

    public var base: Duration
    public var max: Duration
    public var jitter: Jitter

    public init(base: Duration, max: Duration, jitter: Jitter) {
        self.base = base
        self.max = max
        self.jitter = jitter
    }

    /// The upper bound of the delay after failed attempt `attempt` (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = Swift.min(Swift.max(attempt - 1, 0), 30)
        let baseNanoseconds = Self.nanoseconds(self.base)
        guard baseNanoseconds > 0 else { return .zero }
        let scaled = baseNanoseconds > (Int64.max >> exponent) ? Int64.max : baseNanoseconds << exponent
        return .nanoseconds(Swift.min(scaled, Self.nanoseconds(self.max)))
    }

    /// The jittered delay after failed attempt `attempt`.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = Self.nanoseconds(self.ceiling(afterAttempt: attempt))
        guard ceiling > 1 else { return .nanoseconds(ceiling) }
        let floor = self.jitter == .equal ? ceiling / 2 : 0
        return .nanoseconds(floor + Int64.random(in: 0...(ceiling - floor), using: &generator))
    }

    /// `duration` in whole nanoseconds, 0 for a negative one, saturating at `Int64.max`.
    public static func nanoseconds(_ duration: Duration) -> Int64 {
        let components = duration.components
        guard components.seconds >= 0 else { return 0 }
        guard components.seconds < Int64.max / 1_000_000_000 - 1 else { return Int64.max }
        return components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
