/// A failed start-up setting. Its description is one line naming the setting, never its value when secret.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Service settings read from environment variables (the seed's names), optionally overridden by
/// command-line `--KEY=value` flags. Every accessor validates and fails with one clear line.
public struct Settings: Sendable {
    private var values: [String: String]

    /// - Parameters:
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    ///   - overrides: values that win over the environment (command-line flags, `bookstore up` defaults).
    public init(environment: [String: String] = [:], overrides: [String: String] = [:]) {
        self.values = environment.merging(overrides) { _, override in override }
    }

    public subscript(key: String) -> String? {
        get {
            guard let value = self.values[key]?.trimmingWhitespace(), !value.isEmpty else { return nil }
            return value
        }
        set { self.values[key] = newValue }
    }

    /// A copy with `values` set (they win over existing ones).
    public func with(_ values: [String: String]) -> Settings {
        var copy = self
        copy.values.merge(values) { _, new in new }
        return copy
    }

    /// A copy with `values` set only where nothing is set yet.
    public func withDefaults(_ values: [String: String]) -> Settings {
        var copy = self
        for (key, value) in values where copy[key] == nil {
            copy.values[key] = value
        }
        return copy
    }

    public func string(_ key: String, default defaultValue: String) -> String {
        self[key] ?? defaultValue
    }

    public func requiredString(_ key: String) throws(ConfigurationError) -> String {
        guard let value = self[key] else { throw ConfigurationError("missing required setting \(key)") }
        return value
    }

    public func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationError) -> Int {
        guard let raw = self[key] else { return defaultValue }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError("invalid \(key)=\(raw): expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func double(_ key: String, default defaultValue: Double, range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard let raw = self[key] else { return defaultValue }
        guard let value = Double(raw), range.contains(value) else {
            throw ConfigurationError("invalid \(key)=\(raw): expected a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = self[key] else { return defaultValue }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("invalid \(key)=\(raw): expected true or false")
        }
    }

    /// A value that must be one of `allowed`.
    public func choice(_ key: String, default defaultValue: String, allowed: [String]) throws(ConfigurationError) -> String {
        let value = self[key]?.lowercased() ?? defaultValue
        guard allowed.contains(value) else {
            throw ConfigurationError("invalid \(key)=\(value): expected one of \(allowed.joined(separator: ", "))")
        }
        return value
    }

    /// A comma-separated list.
    public func list(_ key: String) -> [String] {
        (self[key] ?? "").split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
