/// The currencies a payment may be made in.
public enum Currency: String, Sendable, CaseIterable {
    case usd = "USD"
    case eur = "EUR"
    case gbp = "GBP"
    case cad = "CAD"
    case aud = "AUD"

    /// The currency for a code in any case (`usd`, `Usd`, `USD`).
    public init?(code: String) {
        self.init(rawValue: code.uppercased())
    }

    /// `USD, EUR, GBP, CAD, AUD`, for messages.
    static let list = Self.allCases.map(\.rawValue).joined(separator: ", ")
}

/// How a payment is made. The raw value is the Python flavour's spelling (`credit_card`); the Java flavour writes
/// it in upper case (`CREDIT_CARD`).
public enum PaymentMethod: String, Sendable, CaseIterable {
    case creditCard = "credit_card"
    case debitCard = "debit_card"
    case paypal = "paypal"
    case bankTransfer = "bank_transfer"

    /// The method for a name in any case (`credit_card`, `CREDIT_CARD`).
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    static let list = Self.allCases.map(\.rawValue).joined(separator: ", ")
}

/// The life cycle of a payment: `pending` while the processor is called, then `completed` or `failed`; only a
/// `completed` payment can become `refunded`. `cancelled` is reserved for payments withdrawn before processing.
public enum PaymentStatus: String, Sendable, CaseIterable {
    case pending
    case completed
    case failed
    case refunded
    case cancelled
}
