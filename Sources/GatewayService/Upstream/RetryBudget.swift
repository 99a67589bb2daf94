/// Limits retries to a fraction of the requests over a sliding window, plus a small constant allowance, so that
/// retries cannot multiply the load on an upstream that is already failing. Pure: time is passed in.
public struct RetryBudget: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Retries allowed per request in the window (0.2: at most one retry for five requests).
        public var ratio: Double
        /// Retries always allowed per second of window, whatever the traffic.
        public var minRetriesPerSecond: Int
        /// The window, in whole seconds (one bucket per second).
        public var windowSeconds: Int

        public init(ratio: Double = 0.2, minRetriesPerSecond: Int = 3, windowSeconds: Int = 10) {
            self.ratio = ratio
            self.minRetriesPerSecond = minRetriesPerSecond
            self.windowSeconds = max(1, windowSeconds)
        }
    }

    public let configuration: Configuration
    private let origin: ContinuousClock.Instant
    private var requests: [Int]
    private var retries: [Int]
    /// The second (since `origin`) that the bucket at `current` counts.
    private var currentSecond: Int64 = 0

    public init(configuration: Configuration, now: ContinuousClock.Instant) {
        self.configuration = configuration
        self.origin = now
        self.requests = Array(repeating: 0, count: configuration.windowSeconds)
        self.retries = Array(repeating: 0, count: configuration.windowSeconds)
    }

    /// Counts one request (first attempts only).
    public mutating func recordRequest(at now: ContinuousClock.Instant) {
        let index = self.advance(to: now)
        self.requests[index] += 1
    }

    /// Takes a retry from the budget; false when the budget is spent.
    public mutating func tryRetry(at now: ContinuousClock.Instant) -> Bool {
        let index = self.advance(to: now)
        let requests = self.requests.reduce(0, +)
        let retries = self.retries.reduce(0, +)
        let allowed = Double(self.configuration.minRetriesPerSecond * self.configuration.windowSeconds) + self.configuration.ratio * Double(requests)
        guard Double(retries) < allowed else { return false }
        self.retries[index] += 1
        return true
    }

    /// Clears the buckets that fell out of the window and returns the index of the current one.
    private mutating func advance(to now: ContinuousClock.Instant) -> Int {
        let second = max(0, (now - self.origin).components.seconds)
        let window = Int64(self.configuration.windowSeconds)
        if second > self.currentSecond {
            let stale = min(second - self.currentSecond, window)
            for step in 1...stale {
                let index = Int((self.currentSecond + step) % window)
                self.requests[index] = 0
                self.retries[index] = 0
            }
            self.currentSecond = second
        }
        return Int(self.currentSecond % window)
    }
}
