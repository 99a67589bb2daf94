/// Delays between reconnection attempts: exponential with "equal jitter", so attempts of many processes spread out
/// without ever retrying in a hot loop. Attempt n (1-based) waits a uniformly random time in `[c/2, c]` where
/// `c = min(max, base × 2^(n−1))`.
public struct ReconnectBackoff: Sendable, Equatable {
    public var base: Duration
    public var max: Duration

    public init(base: Duration = .milliseconds(100), max: Duration = .seconds(5)) {
        self.base = base
        self.max = max
    }

    /// The upper bound of the delay after failed attempt `attempt` (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = Swift.min(Swift.max(attempt - 1, 0), 30)
        let baseNanoseconds = Self.nanoseconds(self.base)
        let maxNanoseconds = Self.nanoseconds(self.max)
        guard baseNanoseconds > 0 else { return .zero }
        // Saturating: base × 2^exponent without overflow.
        let scaled = baseNanoseconds > (Int64.max >> exponent) ? Int64.max : baseNanoseconds << exponent
        return .nanoseconds(Swift.min(scaled, maxNanoseconds))
    }

    /// The jittered delay after failed attempt `attempt`.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = Self.nanoseconds(self.ceiling(afterAttempt: attempt))
        guard ceiling > 1 else { return .nanoseconds(ceiling) }
        let half = ceiling / 2
        return .nanoseconds(half + Int64.random(in: 0...(ceiling - half), using: &generator))
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let components = duration.components
        guard components.seconds >= 0 else { return 0 }
        guard components.seconds < Int64.max / 1_000_000_000 - 1 else { return Int64.max }
        return components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
