import BookstoreCore
import Synchronization

/// One upstream service: its replica base URLs (e.g. `http://127.0.0.1:8081`) with round-robin selection.
public final class Upstream: Sendable {
    public let name: String
    public let replicas: [String]
    public let readinessPath: String
    private let next = Atomic<Int>(0)

    public init(name: String, replicas: [String], readinessPath: String) {
        self.name = name
        self.replicas = replicas.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.readinessPath = readinessPath
    }

    /// The replicas in the order to try them for one request: round-robin start, then the others.
    public func attemptOrder() -> [String] {
        guard self.replicas.count > 1 else { return self.replicas }
        let start = self.next.add(1, ordering: .relaxed).oldValue % self.replicas.count
        return Array(self.replicas[start...] + self.replicas[..<start])
    }
}

/// Parses and validates a replica list setting (comma-separated `http://host:port` URLs).
func parseReplicas(_ values: [String], key: String) throws(ConfigurationError) -> [String] {
    guard !values.isEmpty else { throw ConfigurationError("\(key) must list at least one http:// URL") }
    for value in values {
        guard value.hasPrefix("http://") || value.hasPrefix("https://"), value.count > 8 else {
            throw ConfigurationError("invalid \(key) entry \(value): expected http://host:port")
        }
    }
    return values
}
