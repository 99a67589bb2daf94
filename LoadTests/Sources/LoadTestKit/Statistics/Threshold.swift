import Histogram

/// A pass/fail criterion such as `p95<300ms`, `p99[browse]<1s`, `error_rate<1%` or `rps>500`.
///
/// Grammar: `METRIC[REQUEST] OP VALUE`, where `[REQUEST]` optionally restricts the metric to one request name and OP
/// is one of `<`, `<=`, `>`, `>=`. Metrics:
/// - latency from the intended send time (coordinated omission corrected): `p50`, `p90`, `p95`, `p99`, `p99.9`, any
///   `pN`, `min`, `max`, `mean`, `stdev`; prefix `service_` for the uncorrected service time (`service_p99`);
///   values need a unit: `us`, `ms`, `s`, `m`;
/// - `error_rate` (failures ÷ attempts) and `late_rate` (late sends ÷ sends): a fraction (`0.01`) or a percentage (`1%`);
/// - `rps`: completed requests per second;
/// - `requests` (completed), `errors`, `late_sends`: counts.
///
/// A metric the parser does not know is an error, never a pass.
public struct Threshold: Sendable, Hashable, CustomStringConvertible {
    /// What a threshold measures.
    public enum Metric: Sendable, Hashable {
        case percentile(Double, corrected: Bool)
        case min(corrected: Bool)
        case max(corrected: Bool)
        case mean(corrected: Bool)
        case stdev(corrected: Bool)
        case errorRate
        case lateRate
        case rps
        case requests
        case errors
        case lateSends

        var kind: Kind {
            switch self {
            case .percentile, .min, .max, .mean, .stdev: .latency
            case .errorRate, .lateRate: .ratio
            case .rps: .rate
            case .requests, .errors, .lateSends: .count
            }
        }
    }

    enum Kind {
        case latency
        case ratio
        case rate
        case count
    }

    /// A comparison operator.
    public enum Comparison: String, Sendable, Hashable {
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="

        func holds(_ lhs: Double, _ rhs: Double) -> Bool {
            switch self {
            case .less: lhs < rhs
            case .lessOrEqual: lhs <= rhs
            case .greater: lhs > rhs
            case .greaterOrEqual: lhs >= rhs
            }
        }
    }

    /// The text the threshold was parsed from, trimmed.
    public let source: String
    /// The metric.
    public let metric: Metric
    /// The metric's name as written, e.g. `p95` or `service_p99`.
    public let metricName: String
    /// The request name the threshold is restricted to, if any.
    public let requestName: String?
    /// The comparison.
    public let comparison: Comparison
    /// The limit in the metric's base unit: seconds for latency, a fraction for rates, per second for `rps`.
    public let limit: Double

    public var description: String { source }

    /// Parses a threshold.
    ///
    /// - Throws: ``ThresholdParseError`` for an unknown metric, a missing operator, a bad number or a wrong unit.
    public static func parse(_ text: String) throws(ThresholdParseError) -> Threshold {
        let source = text.trimmingSpaces()
        // Spaces are insignificant, except inside a [request name].
        var compact = ""
        var inBrackets = false
        for character in source {
            if character == "[" { inBrackets = true }
            if character == "]" { inBrackets = false }
            if inBrackets || !character.isWhitespace { compact.append(character) }
        }
        guard !compact.isEmpty else { throw ThresholdParseError(text: text, reason: "empty threshold") }
        guard let operatorIndex = compact.firstIndex(where: { $0 == "<" || $0 == ">" || $0 == "=" || $0 == "!" }) else {
            throw ThresholdParseError(text: text, reason: "no comparison operator (use <, <=, > or >=)")
        }
        var left = String(compact[..<operatorIndex])
        var rest = compact[operatorIndex...]
        let comparison: Comparison
        if rest.hasPrefix("<=") {
            comparison = .lessOrEqual
            rest = rest.dropFirst(2)
        } else if rest.hasPrefix(">=") {
            comparison = .greaterOrEqual
            rest = rest.dropFirst(2)
        } else if rest.hasPrefix("<") {
            comparison = .less
            rest = rest.dropFirst(1)
        } else if rest.hasPrefix(">") {
            comparison = .greater
            rest = rest.dropFirst(1)
        } else {
            throw ThresholdParseError(text: text, reason: "unsupported operator (use <, <=, > or >=)")
        }
        guard !left.isEmpty else { throw ThresholdParseError(text: text, reason: "no metric before the operator") }

        var requestName: String?
        if left.hasSuffix("]") {
            guard let open = left.firstIndex(of: "[") else { throw ThresholdParseError(text: text, reason: "']' without '['") }
            let name = String(left[left.index(after: open)..<left.index(before: left.endIndex)])
            guard !name.isEmpty else { throw ThresholdParseError(text: text, reason: "empty request name in [ ]") }
            requestName = name
            left = String(left[..<open])
        } else if left.contains("[") {
            throw ThresholdParseError(text: text, reason: "'[' without ']'")
        }
        let metric = try parseMetric(left, text: text)
        if requestName != nil, metric == .lateSends || metric == .lateRate {
            throw ThresholdParseError(text: text, reason: "late sends are counted for the whole run, not per request")
        }
        let limit = try parseValue(String(rest), kind: metric.kind, text: text)
        return Threshold(source: source, metric: metric, metricName: left, requestName: requestName, comparison: comparison, limit: limit)
    }

    private static let knownMetrics =
        "p50, p90, p95, p99, p99.9 (any pN), min, max, mean, stdev, service_p99 (any service_ latency), error_rate, late_rate, rps, requests, errors, late_sends"

    private static func parseMetric(_ name: String, text: String) throws(ThresholdParseError) -> Metric {
        var base = name.lowercased()
        var corrected = true
        if base.hasPrefix("service_") {
            corrected = false
            base.removeFirst("service_".count)
        }
        switch base {
        case "min": return .min(corrected: corrected)
        case "max": return .max(corrected: corrected)
        case "mean", "avg": return .mean(corrected: corrected)
        case "stdev", "stddev": return .stdev(corrected: corrected)
        case "median": return .percentile(50, corrected: corrected)
        default: break
        }
        if base.hasPrefix("p") {
            var digits = base.dropFirst()
            if digits.hasPrefix("("), digits.hasSuffix(")") { digits = digits.dropFirst().dropLast() }
            guard let percentile = Double(digits), digits.first?.isNumber == true else {
                throw ThresholdParseError(text: text, reason: "unknown metric '\(name)'; known: \(knownMetrics)")
            }
            guard percentile > 0, percentile <= 100 else {
                throw ThresholdParseError(text: text, reason: "percentile \(digits) is outside 0 < p <= 100")
            }
            return .percentile(percentile, corrected: corrected)
        }
        if corrected {
            switch base {
            case "error_rate": return .errorRate
            case "late_rate": return .lateRate
            case "rps": return .rps
            case "requests": return .requests
            case "errors": return .errors
            case "late_sends": return .lateSends
            default: break
            }
        }
        throw ThresholdParseError(text: text, reason: "unknown metric '\(name)'; known: \(knownMetrics)")
    }

    private static func parseValue(_ value: String, kind: Kind, text: String) throws(ThresholdParseError) -> Double {
        guard !value.isEmpty else { throw ThresholdParseError(text: text, reason: "no value after the operator") }
        let numberPart = value.prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }
        let unit = String(value.dropFirst(numberPart.count)).lowercased()
        guard let number = Double(numberPart), number.isFinite else {
            throw ThresholdParseError(text: text, reason: "'\(value)' is not a number")
        }
        guard number >= 0 else { throw ThresholdParseError(text: text, reason: "the value must not be negative") }
        switch kind {
        case .latency:
            guard !unit.isEmpty else { throw ThresholdParseError(text: text, reason: "a latency limit needs a unit: us, ms, s or m (e.g. 300ms)") }
            guard let scale = DurationText.unitScale(unit) else {
                throw ThresholdParseError(text: text, reason: "unknown time unit '\(unit)' (use us, ms, s or m)")
            }
            return number * scale / 1e9
        case .ratio:
            switch unit {
            case "%": return number / 100
            case "": return number
            default: throw ThresholdParseError(text: text, reason: "a rate is a fraction (0.01) or a percentage (1%), not '\(unit)'")
            }
        case .rate:
            guard unit.isEmpty || unit == "/s" else {
                throw ThresholdParseError(text: text, reason: "rps is a plain number of requests per second, not '\(unit)'")
            }
            return number
        case .count:
            guard unit.isEmpty else { throw ThresholdParseError(text: text, reason: "a count takes no unit, not '\(unit)'") }
            return number
        }
    }

    /// Measures the metric in a result; nil when there is nothing to measure (e.g. no responses for a percentile).
    public func measure(in result: LoadResult) -> Double? {
        let scoped: RequestResult
        if let requestName {
            guard let request = result.request(named: requestName) else { return nil }
            scoped = request
        } else {
            scoped = result.overall
        }
        func histogram(_ corrected: Bool) -> Histogram<UInt64>? {
            let histogram = corrected ? scoped.latencyHistogram : scoped.serviceTimeHistogram
            return histogram.totalCount > 0 ? histogram : nil
        }
        switch metric {
        case .percentile(let percentile, let corrected):
            return histogram(corrected).map { Double($0.valueAtPercentile(percentile)) / 1e6 }
        case .min(let corrected):
            return histogram(corrected).map { Double($0.min) / 1e6 }
        case .max(let corrected):
            return histogram(corrected).map { Double($0.max) / 1e6 }
        case .mean(let corrected):
            return histogram(corrected).map { $0.mean / 1e6 }
        case .stdev(let corrected):
            return histogram(corrected).map { $0.stdDeviation / 1e6 }
        case .errorRate:
            return scoped.succeeded + scoped.failed == 0 ? nil : scoped.errorRate
        case .lateRate:
            return result.overall.sent == 0 ? nil : Double(result.lateSends) / Double(result.overall.sent)
        case .rps:
            return result.sendWindow > .zero ? result.rate(of: scoped.completed) : nil
        case .requests:
            return Double(scoped.completed)
        case .errors:
            return Double(scoped.failed)
        case .lateSends:
            return Double(result.lateSends)
        }
    }

    /// Evaluates the threshold against a result.
    public func evaluate(_ result: LoadResult) -> ThresholdOutcome {
        let measured = measure(in: result)
        let passed = measured.map { comparison.holds($0, limit) } ?? false
        return ThresholdOutcome(threshold: self, measured: measured, passed: passed)
    }

    /// Formats a value of this threshold's metric, e.g. `12.3ms`, `0.50%`, `512.4/s`.
    public func format(_ value: Double) -> String {
        switch metric.kind {
        case .latency: Threshold.formatMilliseconds(value * 1000)
        case .ratio: String(format2: value * 100) + "%"
        case .rate: String(format2: value) + "/s"
        case .count: String(Int64(value))
        }
    }

    /// Formats the limit compactly, as a person would write it: `300ms`, `1s`, `1%`, `500/s`.
    public var formattedLimit: String {
        func trimmed(_ text: String) -> String {
            guard text.contains(".") else { return text }
            var result = text
            while result.hasSuffix("0") { result.removeLast() }
            if result.hasSuffix(".") { result.removeLast() }
            return result
        }
        switch metric.kind {
        case .latency: return DurationText.formatSeconds(limit)
        case .ratio: return trimmed(String.fixed(limit * 100, decimals: 4)) + "%"
        case .rate: return trimmed(String.fixed(limit, decimals: 3)) + "/s"
        case .count: return String(Int64(limit))
        }
    }

    static func formatMilliseconds(_ ms: Double) -> String {
        if ms >= 1000 { return String(format3: ms / 1000) + "s" }
        return String(format3: ms) + "ms"
    }
}

/// The result of evaluating a threshold.
public struct ThresholdOutcome: Sendable {
    /// The threshold.
    public var threshold: Threshold
    /// The measured value in the metric's base unit, or nil when nothing could be measured (which fails).
    public var measured: Double?
    /// Whether the threshold holds.
    public var passed: Bool

    /// A one-line explanation, e.g. `p95 = 412.3ms, limit < 300ms`.
    public var explanation: String {
        let name = threshold.metricName + (threshold.requestName.map { "[\($0)]" } ?? "")
        let limit = "\(threshold.comparison.rawValue) \(threshold.formattedLimit)"
        guard let measured else { return "\(name): no data to measure (limit \(limit))" }
        return "\(name) = \(threshold.format(measured)), limit \(limit)"
    }
}

/// A threshold that cannot be parsed.
public struct ThresholdParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The text given.
    public let text: String
    /// Why it was rejected.
    public let reason: String

    public var description: String { "invalid threshold '\(text)': \(reason)" }
}

extension String {
    /// A number with up to two decimals, e.g. `12.35`.
    init(format2 value: Double) {
        self = Self.fixed(value, decimals: 2)
    }

    /// A number with three significant decimals for small values, e.g. `0.512`, `12.35`, `412.3`.
    init(format3 value: Double) {
        let decimals = abs(value) >= 100 ? 1 : (abs(value) >= 10 ? 2 : 3)
        self = Self.fixed(value, decimals: decimals)
    }

    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let integer = UInt64(scaled / scale)
        var fraction = String(UInt64(scaled) - integer * UInt64(scale))
        while fraction.count < decimals { fraction = "0" + fraction }
        let sign = value < 0 && scaled != 0 ? "-" : ""
        return decimals == 0 ? "\(sign)\(integer)" : "\(sign)\(integer).\(fraction)"
    }
}
