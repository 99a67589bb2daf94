import BookstoreCore
import JSONKit

/// A validated request to pay (SPEC §4.2).
public struct PaymentRequest: Sendable, Equatable {
    public var orderID: String
    public var userID: String
    public var amount: Money
    public var currency: Currency
    public var method: PaymentMethod
    public var bookID: String?

    public init(orderID: String, userID: String, amount: Money, currency: Currency, method: PaymentMethod, bookID: String?) {
        self.orderID = orderID
        self.userID = userID
        self.amount = amount
        self.currency = currency
        self.method = method
        self.bookID = bookID
    }

    /// What makes two requests "the same body" for idempotency: order, user, amount, currency, method and book.
    /// Identifiers cannot contain `|`, so the text is unambiguous.
    public var fingerprint: String {
        [self.orderID, self.userID, self.amount.description, self.currency.rawValue, self.method.rawValue, self.bookID ?? ""]
            .joined(separator: "|")
    }
}

/// The JSON names of the payment request fields in one API flavour.
struct PaymentFields: Sendable {
    var orderID: String
    var userID: String
    var amount: String
    var currency: String
    var paymentMethod: String
    var bookID: String
    var cardNumber: String
    var cvv: String
    var expiryDate: String

    /// The Python flavour's (and the async request path's) snake_case names.
    static let snakeCase = PaymentFields(
        orderID: "order_id",
        userID: "user_id",
        amount: "amount",
        currency: "currency",
        paymentMethod: "payment_method",
        bookID: "book_id",
        cardNumber: "card_number",
        cvv: "cvv",
        expiryDate: "expiry_date"
    )

    /// The Java flavour's camelCase names.
    static let camelCase = PaymentFields(
        orderID: "orderId",
        userID: "userId",
        amount: "amount",
        currency: "currency",
        paymentMethod: "paymentMethod",
        bookID: "bookId",
        cardNumber: "cardNumber",
        cvv: "cvv",
        expiryDate: "expiryDate"
    )

    private var all: [String] {
        [self.orderID, self.userID, self.amount, self.currency, self.paymentMethod, self.bookID, self.cardNumber, self.cvv, self.expiryDate]
    }

    /// `object` with every field missing under these names copied from its `other` spelling (camelCase bodies that
    /// use snake_case names are accepted).
    func aliasing(_ object: JSONObject, from other: PaymentFields) -> JSONObject {
        var result = object
        for (name, alias) in zip(self.all, other.all) where result[name] == nil {
            if let value = object[alias] { result[name] = value }
        }
        return result
    }
}

extension PaymentRequest {
    /// Reads and validates a payment request, listing every problem in one 400 ``APIError``. Optional card fields are
    /// validated when present and then forgotten.
    static func read(_ object: JSONObject, fields: PaymentFields, cards: CardValidator) throws(APIError) -> PaymentRequest {
        var reader = FieldReader(object)
        let orderID = reader.string(fields.orderID, length: 1...100, pattern: Patterns.identifier)
        let userID = reader.string(fields.userID, length: 1...100, pattern: Patterns.identifier)
        var amount: Money?
        if let value = reader.value(fields.amount) {
            do throws(Money.ParseError) {
                amount = try Money.parse(value)
            } catch {
                reader.fail(fields.amount, error.message(for: fields.amount))
            }
        }
        var currency = Currency.usd
        if let code = reader.string(fields.currency, required: false, trimming: false) {
            if let parsed = Currency(code: code) {
                currency = parsed
            } else {
                reader.fail(fields.currency, "\(fields.currency) must be one of \(Currency.list)")
            }
        }
        var method = PaymentMethod.creditCard
        if let name = reader.string(fields.paymentMethod, required: false, trimming: false) {
            if let parsed = PaymentMethod(name: name) {
                method = parsed
            } else {
                reader.fail(fields.paymentMethod, "\(fields.paymentMethod) must be one of \(PaymentMethod.list)")
            }
        }
        let bookID = reader.string(fields.bookID, required: false, length: 1...100, pattern: Patterns.identifier)
        Self.checkCard(&reader, fields: fields, cards: cards, required: false)
        try reader.validate()
        guard let orderID, let userID, let amount else { throw APIError.validation(reader.errors) }
        return PaymentRequest(orderID: orderID, userID: userID, amount: amount, currency: currency, method: method, bookID: bookID)
    }

    /// Validates the card fields of `reader`'s object, recording every problem.
    /// - Parameter required: whether all three fields must be present (the validation endpoint) or only those given.
    static func checkCard(_ reader: inout FieldReader, fields: PaymentFields, cards: CardValidator, required: Bool) {
        if let number = reader.string(fields.cardNumber, required: required, trimming: false), let problem = cards.problem(cardNumber: number) {
            reader.fail(fields.cardNumber, "\(fields.cardNumber) \(problem)")
        }
        if let cvv = reader.string(fields.cvv, required: required, trimming: false), let problem = cards.problem(cvv: cvv) {
            reader.fail(fields.cvv, "\(fields.cvv) \(problem)")
        }
        if let expiry = reader.string(fields.expiryDate, required: required, trimming: false), let problem = cards.problem(expiryDate: expiry) {
            reader.fail(fields.expiryDate, "\(fields.expiryDate) \(problem)")
        }
    }
}
