/// Bounded waiting: every loop of the harness ends by count and by time.
public enum Polling {
    /// Calls `probe` every `interval` until it returns a value or `budget` has passed (at most `maxAttempts` calls).
    ///
    /// - Returns: the value and how long it took, or nil when the budget ran out.
    public static func until<T: Sendable>(
        budget: Duration,
        interval: Duration = .milliseconds(250),
        maxAttempts: Int = 100_000,
        _ probe: () async throws -> T?
    ) async throws -> (value: T, elapsed: Duration)? {
        let clock = ContinuousClock()
        let start = clock.now
        var attempts = 0
        while attempts < maxAttempts {
            attempts += 1
            if let value = try await probe() { return (value, clock.now - start) }
            if clock.now - start >= budget { return nil }
            try await Task.sleep(for: min(interval, max(budget - (clock.now - start), .milliseconds(1))))
        }
        return nil
    }
}
