/// Every check of the conformance suite, in run order.
public enum Catalogue {
    /// All checks: contracts, security, async, failover, alerts, autoscaling, then the checks that must come last
    /// (they exhaust a rate limit).
    public static var all: [Check] {
        ContractsSuite.checks + SecuritySuite.checks + AsyncSuite.checks + FailoverSuite.checks + AlertsSuite.checks
            + AutoscalingSuite.checks + ContractsSuite.lastChecks
    }

    /// The checks of the given suites (all when empty) and ids (all when empty), in catalogue order.
    ///
    /// - Throws: ``CatalogueError`` for an unknown id.
    public static func select(suites: Set<Suite> = [], ids: [String] = [], from checks: [Check] = Catalogue.all) throws -> [Check] {
        let known = Set(checks.map(\.id))
        let unknown = ids.filter { !known.contains($0) }
        guard unknown.isEmpty else { throw CatalogueError("unknown check id: \(unknown.joined(separator: ", "))") }
        let wanted = Set(ids)
        return checks.filter { check in
            (suites.isEmpty || suites.contains(check.suite)) && (wanted.isEmpty || wanted.contains(check.id))
        }
    }
}

public struct CatalogueError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
