/// Exponential backoff with full jitter: attempt n waits a uniformly random time in
/// `0 ... min(maxDelay, baseDelay × 2^(n−1))`.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(2)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The backoff between attempts (full jitter).
    public var backoff: Backoff { Backoff(base: self.baseDelay, max: self.maxDelay, jitter: .full) }

    /// The upper bound of the delay after failed attempt `attempt` (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration { self.backoff.ceiling(afterAttempt: attempt) }

    /// The jittered delay after failed attempt `attempt`.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        self.backoff.delay(afterAttempt: attempt, using: &generator)
    }

    /// Runs `operation` up to `maxAttempts` times while `shouldRetry` says the error is transient.
    /// - Parameter onRetry: called before each retry with the attempt that failed (metrics).
    public func run<T: Sendable>(
        shouldRetry: (any Error) -> Bool,
        onRetry: (Int) -> Void = { _ in },
        _ operation: () async throws -> T
    ) async throws -> T {
        var generator = SystemRandomNumberGenerator()
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch {
                guard attempt < self.maxAttempts, shouldRetry(error) else { throw error }
                onRetry(attempt)
                try await Task.sleep(for: self.delay(afterAttempt: attempt, using: &generator))
                attempt += 1
            }
        }
    }
}

/// A small, fast, seedable generator (SplitMix64) for reproducible simulations.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
