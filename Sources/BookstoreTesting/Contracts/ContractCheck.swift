import Testing

/// One check of a repository contract: a named body every adapter must pass, run on an empty repository. The
/// contracts list their checks so that each adapter's suite runs them as one parameterised test
/// (`@Test(arguments: PaymentRepositoryContract.checks)`), the in-memory adapters in the unit test targets and the
/// database adapters in `IntegrationTests`.
public struct ContractCheck<Subject: Sendable>: Sendable, CustomTestStringConvertible {
    public let name: String
    let body: @Sendable (Subject) async throws -> Void

    public init(_ name: String, _ body: @escaping @Sendable (Subject) async throws -> Void) {
        self.name = name
        self.body = body
    }

    public var testDescription: String { self.name }

    /// Runs the check against `subject`.
    public func run(_ subject: Subject) async throws {
        try await self.body(subject)
    }
}

extension Array {
    /// The checks except those named (run with store-specific assertions by a suite of its own).
    public func excluding<Subject>(_ names: String...) -> [ContractCheck<Subject>] where Element == ContractCheck<Subject> {
        self.filter { !names.contains($0.name) }
    }
}
