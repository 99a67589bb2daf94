/// The HTTP status codes a request counts as a success, e.g. `[200, 402]` or `2xx`.
public struct ExpectedStatuses: Sendable, Hashable, CustomStringConvertible {
    // One bit per status code 0..<640.
    private var words: [UInt64] = Array(repeating: 0, count: 10)
    private var labels: [String] = []

    /// Any 2xx status.
    public static let success: ExpectedStatuses = {
        var statuses = ExpectedStatuses()
        statuses.insert(range: 200...299, label: "2xx")
        return statuses
    }()

    /// An empty set; add codes with ``insert(_:)``.
    public init() {}

    /// The given status codes.
    public init(_ codes: [Int]) {
        for code in codes { insert(code) }
    }

    /// Parses items such as `200`, `"2xx"` or `"200-204"`.
    ///
    /// - Throws: ``ScenarioError`` for an item that is neither a status code nor a class like `4xx`.
    public init(parsing items: [String]) throws(ScenarioError) {
        for item in items {
            let text = item.trimmingSpaces().lowercased()
            if let code = Int(text), (100...599).contains(code) {
                insert(code)
            } else if text.count == 3, text.hasSuffix("xx"), let first = Int(text.prefix(1)), (1...5).contains(first) {
                insert(range: (first * 100)...(first * 100 + 99), label: text)
            } else if let dash = text.firstIndex(of: "-"), let low = Int(text[..<dash]), let high = Int(text[text.index(after: dash)...]),
                (100...599).contains(low), (low...599).contains(high)
            {
                insert(range: low...high, label: text)
            } else {
                throw ScenarioError("invalid expected status '\(item)': use codes like 200, ranges like 200-204 or classes like 2xx")
            }
        }
        guard !labels.isEmpty else { throw ScenarioError("'expect' lists no status codes") }
    }

    /// Adds one status code.
    public mutating func insert(_ code: Int) {
        guard (0..<640).contains(code) else { return }
        words[code >> 6] |= 1 << UInt64(code & 63)
        labels.append(String(code))
    }

    private mutating func insert(range: ClosedRange<Int>, label: String) {
        for code in range { words[code >> 6] |= 1 << UInt64(code & 63) }
        labels.append(label)
    }

    /// Whether a status code is expected.
    @inline(__always)
    public func contains(_ code: Int) -> Bool {
        guard code >= 0, code < 640 else { return false }
        return words[code >> 6] & (1 << UInt64(code & 63)) != 0
    }

    public var description: String { labels.joined(separator: ", ") }
}
