import BookstoreCore
import Foundation

/// Validates card details: the number (spaces and hyphens stripped, 13–19 digits, Luhn-valid), the CVV (3–4 digits)
/// and the expiry (`MM/YY`, month 01–12, not before the current month in UTC). Card data is never stored or logged.
public struct CardValidator: Sendable {
    private let now: @Sendable () -> Date

    /// - Parameter now: the current date (injected by tests).
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// Why `number` is not an acceptable card number (a phrase following the field name), or nil.
    public func problem(cardNumber number: String) -> String? {
        var digits: [UInt8] = []
        for byte in number.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte - UInt8(ascii: "0"))
            case UInt8(ascii: " "), UInt8(ascii: "-"): continue
            default: return "must contain only digits, spaces and hyphens"
            }
        }
        guard (13...19).contains(digits.count) else { return "must contain 13 to 19 digits" }
        guard Self.passesLuhn(digits) else { return "is not a valid card number (Luhn check failed)" }
        return nil
    }

    /// Why `cvv` is not acceptable (3 or 4 digits), or nil.
    public func problem(cvv: String) -> String? {
        let bytes = Array(cvv.utf8)
        guard (3...4).contains(bytes.count), bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return "must be 3 or 4 digits"
        }
        return nil
    }

    /// Why `expiry` is not acceptable (`MM/YY`, month 01–12, not before the current month), or nil.
    public func problem(expiryDate expiry: String) -> String? {
        let bytes = Array(expiry.utf8)
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard bytes.count == 5, bytes[2] == UInt8(ascii: "/"), isDigit(bytes[0]), isDigit(bytes[1]), isDigit(bytes[3]), isDigit(bytes[4])
        else { return "must be in MM/YY format" }
        let month = Int(bytes[0] - UInt8(ascii: "0")) * 10 + Int(bytes[1] - UInt8(ascii: "0"))
        let year = 2000 + Int(bytes[3] - UInt8(ascii: "0")) * 10 + Int(bytes[4] - UInt8(ascii: "0"))
        guard (1...12).contains(month) else { return "must have a month between 01 and 12" }
        guard year * 12 + month >= Self.utcMonthNumber(self.now()) else { return "is in the past: the card has expired" }
        return nil
    }

    /// `year * 12 + month` (month 1–12) of `date` in UTC.
    static func utcMonthNumber(_ date: Date) -> Int {
        let (year, month) = Timestamp.utcYearMonth(date)
        return year * 12 + month
    }

    /// The Luhn checksum of `digits` (most significant first) is a multiple of 10.
    static func passesLuhn(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            var value = Int(digit)
            if index % 2 == 1 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return sum % 10 == 0
    }
}
