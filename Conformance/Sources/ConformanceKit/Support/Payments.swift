import Foundation
import JSONKit

/// The two payment API flavours, as seen through the gateway.
public enum PaymentFlavour: String, Sendable, CaseIterable {
    case python = "payments-python"
    case java = "payments-java"

    /// The gateway prefix (`/api/payments-python`).
    public var prefix: String { "/api/\(self.rawValue)" }
    /// The status of a successful creation (Flask answers 200, Spring 201).
    public var createdStatus: Int { self == .python ? 200 : 201 }
    /// The id member of a payment.
    public var idKey: String { self == .python ? "payment_id" : "paymentId" }
    public var statusKey: String { "status" }
    /// The payment status as the flavour writes it (`completed` / `COMPLETED`).
    public func status(_ name: String) -> String { self == .python ? name.lowercased() : name.uppercased() }
    /// A member name in the flavour's case (`order_id` / `orderId`).
    public func key(_ snake: String) -> String {
        guard self == .java else { return snake }
        let parts = snake.split(separator: "_")
        return parts.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
    }
    /// A short tag for ids (`PY`, `JAVA`).
    public var tag: String { self == .python ? "PY" : "JAVA" }
}

extension CheckContext {
    /// A payment request body in the flavour's field names, with a Luhn-valid card that expires in the future.
    public func paymentBody(_ flavour: PaymentFlavour, orderID: String, userID: String, amount: String = "19.99", bookID: String? = nil) -> JSON {
        var object: JSONObject = [
            flavour.key("order_id"): .string(orderID),
            flavour.key("user_id"): .string(userID),
            flavour.key("amount"): .number(amount),
            flavour.key("currency"): "USD",
            flavour.key("payment_method"): "credit_card",
            flavour.key("card_number"): "4111 1111 1111 1111",
            flavour.key("cvv"): "123",
            flavour.key("expiry_date"): .string(Self.futureExpiry),
        ]
        if let bookID { object[flavour.key("book_id")] = .string(bookID) }
        return .object(object)
    }

    /// `12/YY` of a year ahead of now.
    public static var futureExpiry: String {
        let year = Calendar(identifier: .gregorian).component(.year, from: Date()) % 100 + 2
        return "12/\(String(format: "%02d", year % 100))"
    }

    /// Creates payments for `user` until one ends `completed` (or, with `declined`, until one is declined), at most
    /// ``RunOptions/paymentAttempts`` times; each attempt has a new order id.
    ///
    /// - Returns: the response and the payment (`data` of the envelope).
    public func payment(
        _ flavour: PaymentFlavour,
        for user: TestUser,
        declined: Bool = false,
        bookID: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> (response: HTTPResponse, payment: JSON) {
        let wanted = declined ? 402 : flavour.createdStatus
        var seen: [Int: Int] = [:]
        for _ in 0..<self.options.paymentAttempts {
            let order = await self.uniqueName("order")
            let response = try await self.http.post(
                "\(flavour.prefix)",
                json: self.paymentBody(flavour, orderID: order, userID: user.id, bookID: bookID),
                token: user.token,
                headers: headers
            )
            seen[response.status, default: 0] += 1
            if response.status == wanted, let payment = response.json?["data"], payment[flavour.idKey]?.stringValue != nil {
                return (response, payment)
            }
            guard [200, 201, 402].contains(response.status) else {
                throw CheckBlocked(
                    fixture: "POST \(flavour.prefix) (fixture payment)",
                    seen: "answered \(response.status), not \(flavour.createdStatus) or 402: \(response.excerpt)"
                )
            }
        }
        let outcome = declined ? "declined (402)" : "completed (\(flavour.createdStatus))"
        let counts = seen.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", ")
        throw CheckBlocked(
            fixture: "POST \(flavour.prefix) (fixture payment)",
            seen: "no \(outcome) payment with a \(flavour.idKey) in \(self.options.paymentAttempts) attempts (\(counts)); check PAYMENT_SUCCESS_RATE"
        )
    }
}
