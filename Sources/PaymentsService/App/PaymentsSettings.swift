import BookstoreCore

/// The payment services' own settings (environment variables, SPEC §4.2).
///
/// `STORAGE` (`memory`), `PAYMENT_PROCESSING_MS` (200), `PAYMENT_SUCCESS_RATE` (0.85), `PAYMENT_RANDOM_SEED`,
/// `PAYMENT_PROCESSOR_ERROR_RATE` (0), `PAYMENT_RETRY_MAX_ATTEMPTS` (3), `PAYMENT_RETRY_BASE_MS` (50),
/// `PAYMENT_BREAKER_FAILURES` (5), `PAYMENT_BREAKER_OPEN_SECONDS` (30), `PAYMENT_REQUESTS_CONSUMER` (true for the
/// Python flavour, false for the Java flavour) and `PAYMENT_EVENT_RELAY_MS` (5000: how often events stored with a
/// payment but not yet taken by the bus are sent; those changed in the last interval are left to their request) and
/// `PAYMENT_CLAIM_LEASE_MS` (3000: a `pending` claim not renewed for this long was abandoned by its replica and a
/// repetition takes it over; replicas' clocks must agree to well within it).
public struct PaymentsSettings: Sendable {
    public var storage: String
    public var processor: SimulatedProcessor.Configuration
    public var retry: RetryPolicy
    public var breaker: CircuitBreakerStateMachine.Configuration
    public var isRequestConsumerEnabled: Bool
    public var eventRelayInterval: Duration
    public var claimLease: Duration

    init(settings: Settings, flavour: some PaymentFlavour) throws(ConfigurationError) {
        self.storage = try settings.choice("STORAGE", default: "memory", allowed: ["memory", "mongo", "mongodb", "postgres", "postgresql"])
        let delay = try settings.int("PAYMENT_PROCESSING_MS", default: 200, range: 0...60_000)
        self.processor = SimulatedProcessor.Configuration(
            processingDelay: .milliseconds(delay),
            successRate: try settings.double("PAYMENT_SUCCESS_RATE", default: 0.85, range: 0...1),
            errorRate: try settings.double("PAYMENT_PROCESSOR_ERROR_RATE", default: 0, range: 0...1),
            seed: try Self.seed(settings)
        )
        self.retry = RetryPolicy(
            maxAttempts: try settings.int("PAYMENT_RETRY_MAX_ATTEMPTS", default: 3, range: 1...10),
            baseDelay: .milliseconds(try settings.int("PAYMENT_RETRY_BASE_MS", default: 50, range: 0...10_000))
        )
        self.breaker = CircuitBreakerStateMachine.Configuration(
            failureThreshold: try settings.int("PAYMENT_BREAKER_FAILURES", default: 5, range: 1...1000),
            openDuration: .seconds(try settings.int("PAYMENT_BREAKER_OPEN_SECONDS", default: 30, range: 1...3600))
        )
        self.isRequestConsumerEnabled = try settings.bool("PAYMENT_REQUESTS_CONSUMER", default: flavour.consumesPaymentRequestsByDefault)
        self.eventRelayInterval = .milliseconds(try settings.int("PAYMENT_EVENT_RELAY_MS", default: 5000, range: 100...3_600_000))
        self.claimLease = .milliseconds(try settings.int("PAYMENT_CLAIM_LEASE_MS", default: 3000, range: 300...600_000))
    }

    /// `PAYMENT_RANDOM_SEED`: an unsigned or signed 64-bit integer.
    private static func seed(_ settings: Settings) throws(ConfigurationError) -> UInt64? {
        guard let raw = settings["PAYMENT_RANDOM_SEED"] else { return nil }
        if let value = UInt64(raw) { return value }
        if let value = Int64(raw) { return UInt64(bitPattern: value) }
        throw ConfigurationError("invalid PAYMENT_RANDOM_SEED=\(raw): expected a 64-bit integer")
    }

    /// How long a duplicate request waits for the original still being processed: the worst case of the processor
    /// with its retries, plus a margin.
    var pendingWait: Duration {
        var total = Duration.seconds(5)
        for attempt in 1...self.retry.maxAttempts {
            total += self.processor.processingDelay + self.retry.ceiling(afterAttempt: attempt)
        }
        return total
    }
}
