import BookstoreCore
import Foundation
import Logging
import Prometheus

/// Why a payment operation failed; the controllers map each case to their envelope.
public enum PaymentEngineError: Error, Sendable, Equatable {
    /// The idempotency key was used before with a different request.
    case idempotencyConflict
    /// An identical request is still being processed and did not finish in time.
    case inProgress
    /// The processor could not be reached (retries exhausted, or the circuit breaker is open): nothing was charged.
    case processorUnavailable(breakerOpen: Bool)
    case notFound
    /// Only completed payments can be refunded.
    case notRefundable(PaymentStatus)
    /// The store failed; the detail is logged, never shown.
    case storage
}

/// The result of submitting a payment request.
public struct PaymentSubmission: Sendable, Equatable {
    public var payment: Payment
    /// Whether this is an earlier payment returned for a repeated request.
    public var isReplay: Bool
}

/// The payment domain shared by both flavours: idempotent submission through the processor (behind a retry policy
/// and a circuit breaker), refunds and queries, with events after every stored state change.
///
/// A request first claims its idempotency key, or without one its fingerprint, by storing a `pending` payment: the
/// repository's unique indexes let exactly one of N concurrent identical requests win; the others wait for its
/// outcome and return it. When the processor is unavailable the claim is removed, so nothing is stored and the
/// client may retry. The claim is a lease: while its request is being charged, the engine renews it (`updated_at`)
/// every third of `claimLease`. A claim not renewed for `claimLease` was abandoned — its replica died, or lost the
/// database, between claiming and storing the outcome — and a repeated request takes it over: one conditional write
/// refreshes the claim, keeping its `payment_id` (so a processor that deduplicates charges by payment id would not
/// charge twice), and the winner processes it again. A repetition that finds a live claim waits for its outcome, at
/// most `pendingWait` (the processor's worst case with its retries, plus a margin), then answers "in progress".
struct PaymentEngine: Sendable {
    let repository: any PaymentRepository
    let processor: any PaymentProcessor
    let breaker: CircuitBreaker
    let retry: RetryPolicy
    let events: PaymentEvents
    let logger: Logger
    let retries: Counter
    let metrics: ServiceMetrics
    /// How long a duplicate waits for the pending original before answering ``PaymentEngineError/inProgress``.
    let pendingWait: Duration
    /// How long a claim stays live without being renewed.
    let claimLease: Duration
    /// How often the owner renews its claim: a third of `claimLease` (tests may stall renewals with a longer one).
    let renewalInterval: Duration
    let pollInterval: Duration

    init(
        repository: any PaymentRepository,
        processor: any PaymentProcessor,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        events: PaymentEvents,
        metrics: ServiceMetrics,
        logger: Logger,
        pendingWait: Duration,
        claimLease: Duration = .seconds(3),
        renewalInterval: Duration? = nil,
        pollInterval: Duration = .milliseconds(10)
    ) {
        self.repository = repository
        self.processor = processor
        self.breaker = breaker
        self.retry = retry
        self.events = events
        self.metrics = metrics
        self.logger = logger
        self.pendingWait = pendingWait
        self.claimLease = claimLease
        self.renewalInterval = renewalInterval ?? claimLease / 3
        self.pollInterval = pollInterval
        self.retries = metrics.counter("payment_processor_retries_total", help: "Retries of payment processor calls")
    }

    /// Submits a payment request, returning the earlier payment when it repeats one.
    /// - Parameters:
    ///   - idempotencyKey: the client's key; without one, an unfailed payment with the same fingerprint is the
    ///     earlier result.
    ///   - requestID: for the events' headers.
    func submit(_ request: PaymentRequest, idempotencyKey: String?, requestID: String?) async throws(PaymentEngineError) -> PaymentSubmission {
        let deadline = ContinuousClock.now + self.pendingWait
        while true {
            let existing: Payment?
            if let idempotencyKey {
                existing = try await self.storage { () async throws(PaymentRepositoryError) in
                    try await self.repository.find(userID: request.userID, idempotencyKey: idempotencyKey)
                }
                if let existing, existing.fingerprint != request.fingerprint { throw .idempotencyConflict }
            } else {
                existing = try await self.storage { () async throws(PaymentRepositoryError) in
                    try await self.repository.findActive(fingerprint: request.fingerprint)
                }
            }
            if let existing {
                if existing.status != .pending {
                    // The state change is stored; if its event never reached the bus, a replay sends it — unless the
                    // change is recent enough that the request which made it may still be sending it.
                    if existing.pendingEventID != nil, self.isAbandoned(existing, after: self.pendingWait) {
                        await self.deliverEvent(of: existing, requestID: requestID)
                    }
                    return PaymentSubmission(payment: existing, isReplay: true)
                }
                if self.isAbandoned(existing), let claim = try await self.takeOver(existing) {
                    return PaymentSubmission(payment: try await self.process(claim, requestID: requestID), isReplay: false)
                }
                guard ContinuousClock.now < deadline else { throw .inProgress }
                try? await Task.sleep(for: self.pollInterval)
                continue
            }
            let claim = Payment.pending(for: request, idempotencyKey: idempotencyKey, now: currentMillisecondDate())
            do throws(PaymentRepositoryError) {
                try await self.repository.insert(claim)
            } catch .duplicateIdempotencyKey, .duplicateFingerprint {
                guard ContinuousClock.now < deadline else { throw .inProgress }
                continue
            } catch {
                self.logStorageFailure(error)
                throw .storage
            }
            return PaymentSubmission(payment: try await self.process(claim, requestID: requestID), isReplay: false)
        }
    }

    /// Takes an abandoned claim over, keeping its `payment_id` (a processor that deduplicates charges by payment id
    /// does not charge twice): the claim is refreshed only if it is still stale, in one conditional write, so one
    /// concurrent repetition wins and the others wait for its outcome. Returns the refreshed claim, or nil if another
    /// repetition won.
    private func takeOver(_ stale: Payment) async throws(PaymentEngineError) -> Payment? {
        let now = currentMillisecondDate()
        let won = try await self.storage { () async throws(PaymentRepositoryError) in
            try await self.repository.takeOver(paymentID: stale.paymentID, staleBefore: self.abandonedBefore(now), now: now)
        }
        guard won else { return nil }
        self.logger.warning(
            "Abandoned pending payment taken over",
            metadata: ["payment.id": .string(stale.paymentID), "payment.pending_since": .string(Timestamp.iso8601(stale.updatedAt))]
        )
        var claim = stale
        claim.updatedAt = now
        return claim
    }

    /// Whether a `pending` claim's lease ran out: nobody renewed it for `claimLease`, so no live request owns it.
    func isAbandoned(_ claim: Payment, now: Date = Date()) -> Bool {
        claim.updatedAt < self.abandonedBefore(now)
    }

    /// Whether `payment` was last changed more than `age` ago.
    func isAbandoned(_ payment: Payment, after age: Duration, now: Date = Date()) -> Bool {
        payment.updatedAt < now.addingTimeInterval(-Self.seconds(age))
    }

    /// The instant before which a still-`pending` claim's last renewal means it was abandoned.
    private func abandonedBefore(_ now: Date) -> Date {
        now.addingTimeInterval(-Self.seconds(self.claimLease))
    }

    /// Runs `body` while renewing `claim`'s lease every `renewalInterval`, so that a repetition waits for this
    /// request rather than taking the claim over, however long the processor takes. A renewal that fails (the store is
    /// away) is retried at the next tick; if the lease runs out meanwhile, a repetition may take the claim over, and the
    /// conditional update of the outcome lets only one of the two store it.
    private func renewingLease<T: Sendable>(of claim: Payment, _ body: () async -> T) async -> T {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.renewalInterval)
                    if Task.isCancelled { return }
                    let renewed = try? await self.repository.renewClaim(paymentID: claim.paymentID, now: currentMillisecondDate())
                    // Gone or no longer pending: the outcome is stored (or removed); nothing left to renew.
                    if renewed == false { return }
                }
            }
            let result = await body()
            group.cancelAll()
            return result
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Charges a claimed payment and stores the outcome.
    private func process(_ claim: Payment, requestID: String?) async throws(PaymentEngineError) -> Payment {
        let charge = Charge(paymentID: claim.paymentID, amount: claim.amount, currency: claim.currency, method: claim.method)
        let outcome = await self.renewingLease(of: claim) { () async -> Result<ChargeDecision, any Error> in
            do {
                return .success(
                    try await self.breaker.run {
                        try await self.retry.run(
                            shouldRetry: { $0 is ProcessorUnavailableError },
                            onRetry: { _ in self.retries.increment() }
                        ) {
                            try await self.processor.charge(charge)
                        }
                    }
                )
            } catch {
                return .failure(error)
            }
        }
        let decision: ChargeDecision
        do {
            decision = try outcome.get()
        } catch {
            let breakerOpen = error is CircuitOpenError
            self.logger.warning(
                "Payment processor unavailable",
                metadata: [
                    "payment.id": .string(claim.paymentID),
                    "error.type": .string(String(describing: type(of: error))),
                    "circuit_breaker.open": .stringConvertible(breakerOpen),
                ]
            )
            self.count("unavailable")
            do throws(PaymentRepositoryError) {
                try await self.repository.delete(paymentID: claim.paymentID, expectedStatus: .pending)
            } catch {
                self.logStorageFailure(error)
            }
            throw .processorUnavailable(breakerOpen: breakerOpen)
        }
        var payment = claim
        payment.updatedAt = currentMillisecondDate()
        switch decision {
        case .approved(let transactionID):
            payment.status = .completed
            payment.transactionID = transactionID
            payment.message = "Payment processed successfully"
        case .declined(let reason):
            payment.status = .failed
            payment.message = reason
        }
        payment.pendingEventID = PaymentEvents.routingKey(for: payment.status) == nil ? nil : UUID().lowercasedText
        do throws(PaymentRepositoryError) {
            try await self.repository.update(payment, expectedStatus: .pending)
        } catch .statusChanged {
            // This request's lease ran out (its renewals stalled) and a repetition took the claim over and stored its
            // outcome first, under the same payment id: that outcome is the payment's.
            return try await self.payment(id: claim.paymentID)
        } catch {
            self.logStorageFailure(error)
            throw .storage
        }
        self.count(payment.status.rawValue)
        self.logger.info(
            "Payment processed",
            metadata: ["payment.id": .string(payment.paymentID), "payment.status": .string(payment.status.rawValue)]
        )
        return await self.deliverEvent(of: payment, requestID: requestID)
    }

    /// Publishes a stored payment's pending event and forgets it once the bus took it. When the bus refuses it (outbox
    /// full, shut down) it stays pending with the payment and the relay or a replay sends it later.
    /// - Returns: the payment as stored now.
    @discardableResult
    func deliverEvent(of payment: Payment, requestID: String?) async -> Payment {
        guard let eventID = payment.pendingEventID, await self.events.publish(payment, requestID: requestID) else { return payment }
        var delivered = payment
        delivered.pendingEventID = nil
        do throws(PaymentRepositoryError) {
            try await self.repository.clearPendingEvent(paymentID: payment.paymentID, eventID: eventID)
        } catch {
            // The event was taken; it stays marked pending, so the relay may send it again (same message_id).
            self.logStorageFailure(error)
        }
        return delivered
    }

    /// Publishes the events of payments whose state change is stored but whose event the bus never took (a replica
    /// died between the two writes, or the bus refused it), last changed more than `grace` ago so the request that
    /// made the change delivers it first.
    /// - Returns: how many events the bus took.
    @discardableResult
    func relayPendingEvents(grace: Duration, limit: Int = 100) async -> Int {
        let before = Date().addingTimeInterval(-Self.seconds(grace))
        let pending: [Payment]
        do throws(PaymentRepositoryError) {
            pending = try await self.repository.withPendingEvents(updatedBefore: before, limit: limit)
        } catch {
            self.logStorageFailure(error)
            return 0
        }
        var delivered = 0
        for payment in pending where await self.deliverEvent(of: payment, requestID: nil).pendingEventID == nil {
            delivered += 1
        }
        if !pending.isEmpty {
            self.logger.info(
                "Pending payment events relayed",
                metadata: ["events.pending": .stringConvertible(pending.count), "events.delivered": .stringConvertible(delivered)]
            )
        }
        return delivered
    }

    /// The payment with this id.
    func payment(id: String) async throws(PaymentEngineError) -> Payment {
        let payment = try await self.storage { () async throws(PaymentRepositoryError) in try await self.repository.find(paymentID: id) }
        guard let payment else { throw .notFound }
        return payment
    }

    /// A page of a user's payments, newest first.
    func payments(userID: String, page: PageRequest) async throws(PaymentEngineError) -> PaymentPage {
        try await self.storage { () async throws(PaymentRepositoryError) in
            try await self.repository.list(userID: userID, offset: page.offset(), limit: page.limit)
        }
    }

    /// Refunds a completed payment.
    func refund(_ payment: Payment, requestID: String?) async throws(PaymentEngineError) -> Payment {
        guard payment.status == .completed else { throw .notRefundable(payment.status) }
        var refunded = payment
        let now = currentMillisecondDate()
        refunded.status = .refunded
        refunded.refundedAt = now
        refunded.updatedAt = now
        refunded.message = "Payment refunded successfully"
        refunded.pendingEventID = UUID().lowercasedText
        do throws(PaymentRepositoryError) {
            try await self.repository.update(refunded, expectedStatus: .completed)
        } catch .statusChanged(let current) {
            throw .notRefundable(current)
        } catch .notFound {
            throw .notFound
        } catch {
            self.logStorageFailure(error)
            throw .storage
        }
        self.count("refunded")
        self.logger.info("Payment refunded", metadata: ["payment.id": .string(refunded.paymentID)])
        return await self.deliverEvent(of: refunded, requestID: requestID)
    }

    /// Runs a repository call, turning its failure into ``PaymentEngineError/storage`` (logged).
    private func storage<T>(_ operation: () async throws(PaymentRepositoryError) -> T) async throws(PaymentEngineError) -> T {
        do throws(PaymentRepositoryError) {
            return try await operation()
        } catch {
            self.logStorageFailure(error)
            throw .storage
        }
    }

    private func logStorageFailure(_ error: PaymentRepositoryError) {
        self.logger.error("Payment storage failed", metadata: ["error.type": .string(String(describing: error))])
    }

    private func count(_ outcome: String) {
        self.metrics.counter("payments_processed_total", labels: [("outcome", outcome)], help: "Payment operations by outcome").increment()
    }
}
