import JSONKit

/// An amount of money as a whole number of cents (fixed-point, two decimals). Never binary floating point.
///
/// Amounts are read from the JSON number literal exactly as written (``parse(_:)``) and written back as a literal
/// with exactly two decimals (`19.90`).
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount in cents.
    public let cents: Int64

    /// The smallest accepted amount: 0.01.
    public static let minimum = Money(cents: 1)
    /// The largest accepted amount: 1,000,000.00.
    public static let maximum = Money(cents: 100_000_000)

    public init(cents: Int64) {
        self.cents = cents
    }

    /// Why a value is not an acceptable amount; `message(for:)` names the field.
    public enum ParseError: Error, Sendable, Equatable {
        case notANumber
        case tooManyDecimals
        case outOfRange

        /// A client-safe message about `field`.
        public func message(for field: String) -> String {
            switch self {
            case .notANumber: "\(field) must be a number"
            case .tooManyDecimals: "\(field) must have at most 2 decimal places"
            case .outOfRange: "\(field) must be between \(Money.minimum) and \(Money.maximum)"
            }
        }
    }

    /// Reads an amount from a JSON value: only a number literal is accepted (not a string, a boolean or null), with at
    /// most two decimals once any exponent is applied (`1e2` is 100.00, `1.234e1` is 12.34, `12.345` and `12.500` are
    /// rejected), between ``minimum`` and ``maximum``.
    public static func parse(_ value: JSON) throws(ParseError) -> Money {
        guard case .number(let literal) = value else { throw .notANumber }
        return try self.parse(literal: literal)
    }

    /// Reads an amount from a JSON number literal (see ``parse(_:)``).
    public static func parse(literal: String) throws(ParseError) -> Money {
        var bytes = literal.utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        let integerDigits = bytes.prefix(while: Self.isDigit)
        bytes = bytes.dropFirst(integerDigits.count)
        var fractionDigits = bytes.prefix(0)
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionDigits = bytes.prefix(while: Self.isDigit)
            guard !fractionDigits.isEmpty else { throw .notANumber }
            bytes = bytes.dropFirst(fractionDigits.count)
        }
        guard !integerDigits.isEmpty else { throw .notANumber }
        var exponent = 0
        if let first = bytes.first, first | 0x20 == UInt8(ascii: "e") {
            bytes = bytes.dropFirst()
            var exponentNegative = false
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exponentNegative = sign == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            let exponentDigits = bytes.prefix(while: Self.isDigit)
            guard !exponentDigits.isEmpty else { throw .notANumber }
            bytes = bytes.dropFirst(exponentDigits.count)
            // Anything beyond four digits is far outside every accepted amount either way.
            let significant = exponentDigits.drop { $0 == UInt8(ascii: "0") }
            guard significant.count <= 4 else { throw exponentNegative ? .tooManyDecimals : .outOfRange }
            exponent = significant.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            if exponentNegative { exponent = -exponent }
        }
        guard bytes.isEmpty else { throw .notANumber }

        // value = digits × 10^(exponent − fractionDigits.count); cents = digits × 10^(shift).
        let shift = exponent - fractionDigits.count + 2
        let digits = Array(integerDigits) + Array(fractionDigits)
        let significant = digits.drop { $0 == UInt8(ascii: "0") }
        if significant.isEmpty {
            // Zero (or minus zero): below the minimum, whatever its scale.
            throw shift < 0 ? .tooManyDecimals : .outOfRange
        }
        guard shift >= 0 else { throw .tooManyDecimals }
        if negative { throw .outOfRange }
        // The maximum has 9 digits in cents; anything longer is out of range (and would overflow).
        guard significant.count + shift <= 10 else { throw .outOfRange }
        var cents: Int64 = 0
        for digit in significant { cents = cents * 10 + Int64(digit - UInt8(ascii: "0")) }
        for _ in 0..<shift { cents *= 10 }
        let money = Money(cents: cents)
        guard money >= .minimum, money <= .maximum else { throw .outOfRange }
        return money
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The amount with exactly two decimals: `19.90`.
    public var description: String {
        let sign = self.cents < 0 ? "-" : ""
        let magnitude = self.cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The amount as a JSON number literal with two decimals.
    public var json: JSON { .number(self.description) }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }
}
