import Foundation

/// UTC timestamps in the format every contract uses: `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`.
public enum Timestamp {
    /// Formats `date` as `2026-11-29T15:13:05.123Z`.
    public static func iso8601(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        self.appendISO8601(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `date` formatted as by ``iso8601(_:)`` to `output` (no `String` and no formatter on the way: the access
    /// log writes one per request).
    public static func appendISO8601(_ date: Date, to output: inout [UInt8]) {
        // Round to the microsecond first, so a date made from whole milliseconds (`ms / 1000`, which binary floating
        // point may store a hair below) prints that millisecond.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let wholeSeconds = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
        let millis = Int((micros - wholeSeconds * 1_000_000) / 1000)
        let parts = self.utcFields(secondsSince1970: wholeSeconds)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            guard (0..<divisor * 10).contains(value) else { return output.append(contentsOf: String(value).utf8) }
            var value = value
            while divisor > 0 {
                output.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        output.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        output.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        output.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        output.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        output.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        output.append(UInt8(ascii: "."))
        digits(millis, 3)
        output.append(UInt8(ascii: "Z"))
    }

    /// The UTC year and month (1–12) of `date`.
    public static func utcYearMonth(_ date: Date) -> (year: Int, month: Int) {
        let parts = self.utcFields(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)))
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1)
    }

    /// The calendar fields of a time in UTC (`gmtime_r`: no time zone lookup, no formatter).
    private static func utcFields(secondsSince1970: Int64) -> tm {
        var seconds = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return parts
    }

    /// Parses a timestamp written by ``iso8601(_:)`` (or any RFC 3339 UTC timestamp with optional fraction).
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
