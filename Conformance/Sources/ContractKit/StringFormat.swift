import Foundation

/// The string formats the validator checks: `uuid`, `date-time` (RFC 3339), `date` (RFC 3339 full-date), `email` (a
/// practical `local@domain` check), and the payment documents' own `payment-card-number` (13–19 digits, optionally
/// separated by spaces or hyphens, passing the Luhn check) and `card-expiry` (`MM/YY`, not before the current month
/// in UTC). Other formats are not checked.
enum StringFormat {
    /// Whether `text` has `format`; nil when the format is not one this validator checks.
    static func check(_ text: String, format: String) -> Bool? {
        switch format {
        case "uuid": self.isUUID(text)
        case "date-time": self.isDateTime(text)
        case "date": self.isDate(Array(text.utf8)[...])
        case "email": self.isEmail(text)
        case "payment-card-number": self.isCardNumber(text)
        case "card-expiry": self.isCardExpiry(text, now: Date())
        default: nil
        }
    }

    /// 13–19 digits, optionally separated by spaces or hyphens, whose Luhn checksum is a multiple of 10.
    static func isCardNumber(_ text: String) -> Bool {
        var digits: [Int] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(Int(byte - UInt8(ascii: "0")))
            case UInt8(ascii: " "), UInt8(ascii: "-"): continue
            default: return false
            }
        }
        guard (13...19).contains(digits.count) else { return false }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            let doubled = index % 2 == 1 ? digit * 2 : digit
            sum += doubled > 9 ? doubled - 9 : doubled
        }
        return sum % 10 == 0
    }

    /// `MM/YY` with a month 01–12, not before the month of `now` in UTC.
    static func isCardExpiry(_ text: String, now: Date) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: "/"), let month = self.number(bytes[0..<2][...]),
            let year = self.number(bytes[3..<5][...]), (1...12).contains(month)
        else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let today = calendar.dateComponents([.year, .month], from: now)
        return (2000 + year) * 12 + month >= (today.year ?? 0) * 12 + (today.month ?? 0)
    }

    /// `8-4-4-4-12` hexadecimal digits, any case, any version.
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard Self.isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    /// RFC 3339 `date-time`: `full-date "T" partial-time time-offset`, with `T`/`Z` in either case, optional
    /// fractional seconds, a leap second allowed, and every field in range.
    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)[...]
        guard bytes.count >= 20 else { return false }
        let separator = bytes[bytes.startIndex + 10]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") else { return false }
        guard self.isDate(bytes.prefix(10)) else { return false }
        var time = bytes.dropFirst(11)
        guard let hour = self.number(time.prefix(2)), hour <= 23, time.dropFirst(2).first == UInt8(ascii: ":"),
            let minute = self.number(time.dropFirst(3).prefix(2)), minute <= 59, time.dropFirst(5).first == UInt8(ascii: ":"),
            let second = self.number(time.dropFirst(6).prefix(2)), second <= 60
        else { return false }
        time = time.dropFirst(8)
        if time.first == UInt8(ascii: ".") {
            let fraction = time.dropFirst().prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !fraction.isEmpty else { return false }
            time = time.dropFirst(1 + fraction.count)
        }
        if time.count == 1, time.first == UInt8(ascii: "Z") || time.first == UInt8(ascii: "z") { return true }
        guard time.count == 6, time.first == UInt8(ascii: "+") || time.first == UInt8(ascii: "-"),
            let offsetHour = self.number(time.dropFirst().prefix(2)), offsetHour <= 23, time.dropFirst(3).first == UInt8(ascii: ":"),
            let offsetMinute = self.number(time.dropFirst(4).prefix(2)), offsetMinute <= 59
        else { return false }
        return true
    }

    /// RFC 3339 `full-date`: `YYYY-MM-DD` with a day that exists in that month.
    static func isDate(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count == 10, bytes.dropFirst(4).first == UInt8(ascii: "-"), bytes.dropFirst(7).first == UInt8(ascii: "-"),
            let year = self.number(bytes.prefix(4)), let month = self.number(bytes.dropFirst(5).prefix(2)),
            let day = self.number(bytes.dropFirst(8).prefix(2)), (1...12).contains(month), day >= 1
        else { return false }
        let isLeapYear = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth = [31, isLeapYear ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= daysInMonth[month - 1]
    }

    /// A practical address check: one `@`, a dot-atom local part of at most 64 characters, and a domain of
    /// letter-digit-hyphen labels (a single label such as `localhost` is allowed), at most 254 characters in all.
    static func isEmail(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count <= 254, let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= 64, !domain.isEmpty else { return false }
        let localSpecials = Array("!#$%&'*+-/=?^_`{|}~".utf8)
        for atom in local.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !atom.isEmpty, atom.allSatisfy({ Self.isAlphanumeric($0) || localSpecials.contains($0) }) else { return false }
        }
        for label in domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.count <= 63, label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        return true
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
