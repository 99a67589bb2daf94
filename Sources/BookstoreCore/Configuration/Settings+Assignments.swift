extension Settings {
    /// `KEY=VALUE` assignments (command-line `--set` flags) as overrides; a later assignment of a key wins.
    /// - Throws: ``ConfigurationError`` `expects KEY=VALUE, got …` for an entry without `=` or with an empty key.
    public static func assignments(_ entries: [String]) throws(ConfigurationError) -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ConfigurationError("expects KEY=VALUE, got \(entry)")
            }
            result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return result
    }
}
