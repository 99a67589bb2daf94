/// A dependency (database, broker) could not serve a request. Clients get 503 with the dependency's name only;
/// the underlying driver error is logged, never sent.
public struct DependencyError: Error, Sendable, CustomStringConvertible {
    public let dependency: String
    public let underlying: String

    public init(dependency: String, underlying: any Error) {
        self.dependency = dependency
        self.underlying = String(reflecting: type(of: underlying))
    }

    public var description: String { "\(self.dependency) unavailable (\(self.underlying))" }
}
