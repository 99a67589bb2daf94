/// An exact decimal number read from a JSON number literal, so that bounds and `multipleOf` are checked
/// on the value as written (`19.90`, `0.01`, `1e6`) and never through binary floating point.
///
/// The value is `±significand × 10^exponent`, where `significand` holds its decimal digits without
/// leading or trailing zeros (empty for zero).
struct DecimalNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    let isNegative: Bool
    let significand: [UInt8]
    let exponent: Int

    /// Exponents beyond this are refused rather than risk overflowing `Int` arithmetic.
    private static let maximumExponentDigits = 15

    /// Reads a JSON number literal (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; leading zeros are tolerated).
    init?(literal: String) {
        let bytes = Array(literal.utf8)
        var index = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var digits: [UInt8] = []
        while index < bytes.count, isDigit(bytes[index]) {
            digits.append(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard !digits.isEmpty else { return nil }
        var fractionCount = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, isDigit(bytes[index]) {
                digits.append(bytes[index] - UInt8(ascii: "0"))
                fractionCount += 1
                index += 1
            }
            guard fractionCount > 0 else { return nil }
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponentDigits = 0
            while index < bytes.count, isDigit(bytes[index]) {
                if exponentDigits > 0 || bytes[index] != UInt8(ascii: "0") {
                    exponentDigits += 1
                    guard exponentDigits <= Self.maximumExponentDigits else { return nil }
                    exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                }
                index += 1
            }
            guard index > 0, isDigit(bytes[index - 1]) else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        guard index == bytes.count else { return nil }

        exponent -= fractionCount
        let firstNonZero = digits.firstIndex { $0 != 0 } ?? digits.endIndex
        digits.removeSubrange(digits.startIndex..<firstNonZero)
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty {
            self.init(isNegative: false, significand: [], exponent: 0)
        } else {
            self.init(isNegative: negative, significand: digits, exponent: exponent)
        }
    }

    private init(isNegative: Bool, significand: [UInt8], exponent: Int) {
        self.isNegative = isNegative
        self.significand = significand
        self.exponent = exponent
    }

    var isZero: Bool { self.significand.isEmpty }

    /// How many digits the value needs after the decimal point (`19.90` → 1, `0.01` → 2, `20` → 0).
    var fractionDigits: Int { max(0, -self.exponent) }

    var description: String {
        guard !self.isZero else { return "0" }
        let digits = String(decoding: self.significand.map { $0 + UInt8(ascii: "0") }, as: UTF8.self)
        return (self.isNegative ? "-" : "") + digits + (self.exponent == 0 ? "" : "e\(self.exponent)")
    }

    static func < (lhs: DecimalNumber, rhs: DecimalNumber) -> Bool {
        switch (lhs.isNegative, rhs.isNegative) {
        case (true, false): return true
        case (false, true): return false
        case (false, false): return Self.compareMagnitudes(lhs, rhs) < 0
        case (true, true): return Self.compareMagnitudes(lhs, rhs) > 0
        }
    }

    /// -1, 0 or 1 as |lhs| is smaller than, equal to or larger than |rhs|.
    private static func compareMagnitudes(_ lhs: DecimalNumber, _ rhs: DecimalNumber) -> Int {
        if lhs.isZero || rhs.isZero {
            return lhs.isZero ? (rhs.isZero ? 0 : -1) : 1
        }
        // The power of ten of the most significant digit decides first.
        let lhsLead = lhs.exponent + lhs.significand.count
        let rhsLead = rhs.exponent + rhs.significand.count
        if lhsLead != rhsLead { return lhsLead < rhsLead ? -1 : 1 }
        for (left, right) in zip(lhs.significand, rhs.significand) where left != right {
            return left < right ? -1 : 1
        }
        if lhs.significand.count == rhs.significand.count { return 0 }
        return lhs.significand.count < rhs.significand.count ? -1 : 1
    }

    /// Whether this value is an integer multiple of `divisor`, exactly; nil when `divisor` is not positive or
    /// has more significant digits than this check supports (19).
    func isMultiple(of divisor: DecimalNumber) -> Bool? {
        guard !divisor.isZero, !divisor.isNegative, divisor.significand.count <= 19 else { return nil }
        guard !self.isZero else { return true }
        // self = a × 10^e1 and divisor = b × 10^e2 with a and b free of trailing zeros: when e1 < e2 the quotient
        // would need a to end in zeros, so it is not an integer; otherwise check (a × 10^(e1 - e2)) mod b == 0.
        guard self.exponent >= divisor.exponent else { return false }
        var modulus: UInt64 = 0
        for digit in divisor.significand {
            let (value, overflow) = modulus.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            let (sum, sumOverflow) = value.addingReportingOverflow(UInt64(digit))
            guard !sumOverflow else { return nil }
            modulus = sum
        }
        var remainder: UInt64 = 0
        for digit in self.significand {
            remainder = Self.multiplyAdd(remainder, 10, UInt64(digit), modulo: modulus)
        }
        let scale = Self.powerOfTen(self.exponent - divisor.exponent, modulo: modulus)
        return Self.multiplyAdd(remainder, scale, 0, modulo: modulus) == 0
    }

    /// (a × b + c) mod m without overflow, for a, b, c < 2^64 and c < m.
    private static func multiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, modulo m: UInt64) -> UInt64 {
        let product = (a % m).multipliedFullWidth(by: b % m)
        let (low, carry) = product.low.addingReportingOverflow(c)
        // (a % m) × (b % m) < m², so the high word stays below m and the division cannot overflow.
        let high = product.high + (carry ? 1 : 0)
        return m.dividingFullWidth((high % m, low)).remainder
    }

    /// 10^exponent mod m, by repeated squaring.
    private static func powerOfTen(_ exponent: Int, modulo m: UInt64) -> UInt64 {
        var result: UInt64 = 1 % m
        var base: UInt64 = 10 % m
        var remaining = exponent
        while remaining > 0 {
            if remaining & 1 == 1 { result = Self.multiplyAdd(result, base, 0, modulo: m) }
            base = Self.multiplyAdd(base, base, 0, modulo: m)
            remaining >>= 1
        }
        return result
    }
}
