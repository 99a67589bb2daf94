import BookstoreCore
import Logging

@testable import PaymentsService

extension PaymentEngine {
    /// An engine for tests: a processor that approves after `processingDelay` (at once by default), one attempt,
    /// python-flavoured events on `bus`.
    static func forTests(
        repository: any PaymentRepository,
        bus: any EventBus = InProcessEventBus(),
        pendingWait: Duration = .seconds(1),
        claimLease: Duration = .seconds(3),
        renewalInterval: Duration? = nil,
        processingDelay: Duration = .zero,
        pollInterval: Duration = .milliseconds(10)
    ) -> PaymentEngine {
        let metrics = ServiceMetrics(service: "payment-service-python")
        let logger = Logger(label: "test")
        return PaymentEngine(
            repository: repository,
            processor: SimulatedProcessor(configuration: .init(processingDelay: processingDelay, successRate: 1)),
            breaker: CircuitBreaker(name: "processor", configuration: .init(), metrics: metrics),
            retry: RetryPolicy(maxAttempts: 1, baseDelay: .zero),
            events: PaymentEvents(
                publisher: EventPublisher(bus: bus, metrics: metrics, logger: logger),
                flavour: .python,
                serviceName: "payment-service-python"
            ),
            metrics: metrics,
            logger: logger,
            pendingWait: pendingWait,
            claimLease: claimLease,
            renewalInterval: renewalInterval,
            pollInterval: pollInterval
        )
    }
}
