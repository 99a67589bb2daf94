/// Parsing and printing of human-written durations such as `30s`, `500ms`, `1m30s` or `1.5s`.
public enum DurationText {
    /// An error for a duration that cannot be read.
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        /// The text that failed to parse.
        public let text: String

        public var description: String {
            "invalid duration '\(text)': use a number with a unit, e.g. 500ms, 30s, 2m, 1m30s (units: ns, us, ms, s, m, h)"
        }
    }

    /// Parses a duration. A bare number means seconds.
    ///
    /// - Parameter text: The text, e.g. `250ms`, `10s`, `1m30s`, `0.5s` or `20`.
    /// - Returns: The duration.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { throw ParseError(text: text) }
        if let seconds = Double(trimmed) {
            guard seconds.isFinite, seconds >= 0 else { throw ParseError(text: text) }
            return .nanoseconds(Int64((seconds * 1e9).rounded()))
        }
        var totalNanoseconds = 0.0
        var chars = Substring(trimmed)
        while !chars.isEmpty {
            let number = chars.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { throw ParseError(text: text) }
            chars = chars.dropFirst(number.count)
            let unit = chars.prefix { $0.isLetter }
            chars = chars.dropFirst(unit.count)
            guard let scale = unitScale(String(unit)) else { throw ParseError(text: text) }
            totalNanoseconds += value * scale
        }
        guard totalNanoseconds.isFinite, totalNanoseconds < 9e18 else { throw ParseError(text: text) }
        return .nanoseconds(Int64(totalNanoseconds.rounded()))
    }

    /// The number of nanoseconds in one of the given unit, or nil for an unknown unit.
    static func unitScale(_ unit: String) -> Double? {
        switch unit {
        case "ns": 1
        case "us", "µs", "μs": 1e3
        case "ms": 1e6
        case "s": 1e9
        case "m", "min": 60e9
        case "h": 3600e9
        default: nil
        }
    }

    /// Prints a duration compactly: `850us`, `12.5ms`, `3s`, `2m30s`.
    public static func format(_ duration: Duration) -> String {
        formatSeconds(duration.seconds)
    }

    /// Prints a number of seconds compactly: `850us`, `12.5ms`, `3s`, `2m30s`.
    public static func formatSeconds(_ seconds: Double) -> String {
        if seconds < 1e-3 { return "\(trim(seconds * 1e6))us" }
        if seconds < 1 { return "\(trim(seconds * 1e3))ms" }
        if seconds < 60 || seconds != seconds.rounded() { return "\(trim(seconds))s" }
        let minutes = Int(seconds) / 60
        let rest = Int(seconds) % 60
        return rest == 0 ? "\(minutes)m" : "\(minutes)m\(rest)s"
    }

    private static func trim(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        var text = String(rounded)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds (saturating at zero for negative durations).
    var nanosecondsClamped: UInt64 {
        let parts = components
        guard parts.seconds >= 0 else { return 0 }
        return UInt64(parts.seconds) &* 1_000_000_000 &+ UInt64(max(0, parts.attoseconds) / 1_000_000_000)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
