/// What the processor is asked to charge. Card data never reaches it in this simulation.
public struct Charge: Sendable, Equatable {
    public var paymentID: String
    public var amount: Money
    public var currency: Currency
    public var method: PaymentMethod

    public init(paymentID: String, amount: Money, currency: Currency, method: PaymentMethod) {
        self.paymentID = paymentID
        self.amount = amount
        self.currency = currency
        self.method = method
    }
}

/// The processor's answer to a charge.
public enum ChargeDecision: Sendable, Equatable {
    /// Charged; the transaction id is `TXN-` and 12 uppercase hex digits.
    case approved(transactionID: String)
    /// Not charged, for a reason the client may see.
    case declined(reason: String)
}

/// A transient failure of the processor (timeout, connection refused): nothing was charged and the call may be retried.
public struct ProcessorUnavailableError: Error, Sendable, Equatable {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }
}

/// A payment gateway. A decline is an answer, not an error; an error means nothing was charged.
public protocol PaymentProcessor: Sendable {
    /// Charges `charge`.
    /// - Throws: ``ProcessorUnavailableError`` for transient failures (retried); anything else is not retried.
    func charge(_ charge: Charge) async throws -> ChargeDecision
}
