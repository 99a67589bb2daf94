import BookstoreCore
import Foundation
import JSONKit
import Logging
import ServiceLifecycle
import Synchronization

/// One upstream service: its replica base URLs (e.g. `http://127.0.0.1:8081`) with round-robin selection.
/// The list can change at run time (``UpstreamsFileWatcher``).
public final class Upstream: Sendable {
    public let name: String
    public let readinessPath: String
    private let state: Mutex<[String]>
    private let next = Atomic<Int>(0)

    public init(name: String, replicas: [String], readinessPath: String) {
        self.name = name
        self.state = Mutex(Self.normalise(replicas))
        self.readinessPath = readinessPath
    }

    public var replicas: [String] { self.state.withLock { $0 } }

    /// Replaces the replica list.
    public func setReplicas(_ replicas: [String]) {
        self.state.withLock { $0 = Self.normalise(replicas) }
    }

    /// The replicas in the order to try them for one request: round-robin start, then the others.
    public func attemptOrder() -> [String] {
        let replicas = self.replicas
        guard replicas.count > 1 else { return replicas }
        let start = self.next.add(1, ordering: .relaxed).oldValue % replicas.count
        return Array(replicas[start...] + replicas[..<start])
    }

    static func normalise(_ replicas: [String]) -> [String] {
        replicas.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
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

/// Re-reads `UPSTREAMS_FILE` — a JSON object from upstream setting name to a list of URLs, e.g.
/// `{"USER_SERVICE_URL": ["http://127.0.0.1:8081", "http://127.0.0.1:8083"]}` — whenever it changes, so a
/// supervisor can add and remove replicas without restarting the gateway. Invalid content is logged and ignored.
struct UpstreamsFileWatcher: Service {
    let path: String
    let upstreams: [String: Upstream]
    let logger: Logger

    func run() async throws {
        var lastModified: Date?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: self.path),
                let modified = attributes[.modificationDate] as? Date, modified != lastModified
            {
                lastModified = modified
                self.reload()
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    func reload() {
        guard let data = FileManager.default.contents(atPath: self.path), let json = try? JSON.parse(Array(data)),
            let object = json.objectValue
        else {
            self.logger.warning("Upstreams file unreadable, keeping the current replicas", metadata: ["file.path": .string(self.path)])
            return
        }
        for entry in Upstreams.settings {
            guard let urls = object[entry.key]?.arrayValue?.compactMap(\.stringValue), let upstream = self.upstreams[entry.name],
                let replicas = try? parseReplicas(urls, key: entry.key)
            else { continue }
            if replicas != upstream.replicas {
                upstream.setReplicas(replicas)
                self.logger.info(
                    "Upstream replicas changed",
                    metadata: ["upstream.name": .string(entry.name), "upstream.replicas": .string(replicas.joined(separator: ","))]
                )
            }
        }
    }
}
