/// Every check of the conformance suite, in run order.
public enum Catalogue {
    /// All checks: contracts, security, async, failover, alerts, autoscaling, then the checks that must come last
    /// (they exhaust a rate limit).
    public static var all: [Check] {
        ContractsSuite.checks + SecuritySuite.checks + AsyncSuite.checks + FailoverSuite.checks + AlertsSuite.checks
            + AutoscalingSuite.checks + ContractsSuite.lastChecks
    }

    /// The checks of the given suites plus the given ids, in catalogue order; everything when both are empty.
    ///
    /// - Throws: ``CatalogueError`` for an unknown id.
    public static func select(suites: Set<Suite> = [], ids: [String] = [], from checks: [Check] = Catalogue.all) throws -> [Check] {
        let known = Set(checks.map(\.id))
        let unknown = ids.filter { !known.contains($0) }
        guard unknown.isEmpty else { throw CatalogueError("unknown check id: \(unknown.joined(separator: ", "))") }
        let wanted = Set(ids)
        guard !suites.isEmpty || !wanted.isEmpty else { return checks }
        return checks.filter { suites.contains($0.suite) || wanted.contains($0.id) }
    }
}

public struct CatalogueError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
