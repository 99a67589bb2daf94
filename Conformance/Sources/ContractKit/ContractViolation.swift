/// One way a response (or a JSON value) breaks its contract.
///
/// `path` says where: `$` is the body, `$.data.payments[0].amount` a value inside it; problems outside
/// the body use `status`, `content-type`, `headers.<name>` or `operation`. `message` says what was expected
/// and what was seen, so it can be shown as is in a test failure or a JUnit report.
public struct ContractViolation: Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is (`$.user.email`, `status`, `content-type`, `headers.retry-after`, `operation`).
    public let path: String
    /// The schema keyword or check that failed (`type`, `required`, `pattern`, `status`, `schema`, …).
    public let keyword: String
    /// What was expected and what was seen.
    public let message: String

    public init(path: String, keyword: String, message: String) {
        self.path = path
        self.keyword = keyword
        self.message = message
    }

    public var description: String { "\(self.path): \(self.message)" }
}

extension Array where Element == ContractViolation {
    /// All the violations, one per line; an empty string when there are none.
    public var report: String { self.map(\.description).joined(separator: "\n") }
}
