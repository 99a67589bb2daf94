import Foundation

/// UTC timestamps in the format every contract uses: `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`.
public enum Timestamp {
    /// Formats `date` as `2026-11-29T15:13:05.123Z`.
    public static func iso8601(_ date: Date) -> String {
        // Round to the microsecond first, so a date made from whole milliseconds (`ms / 1000`, which binary floating
        // point may store a hair below) prints that millisecond.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let wholeSeconds = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
        var seconds = time_t(wholeSeconds)
        let millis = Int((micros - wholeSeconds * 1_000_000) / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            millis
        )
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
