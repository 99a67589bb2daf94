import BookstoreCore

/// One configured replica address: `http://host:port[/base]`. A literal IP address is one replica; a host name
/// stands for every IPv4 address it resolves to (a Kubernetes headless Service lists one per ready pod).
public struct ReplicaTarget: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A path prefix put before every upstream path (usually empty).
    public var basePath: String

    public init(host: String, port: Int, basePath: String = "") {
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses `http://host[:port][/base]`; `https` is refused (TLS ends at the ingress, upstreams speak plain HTTP).
    public init(url: String, setting: String) throws(ConfigurationError) {
        guard url.lowercased().hasPrefix("http://") else {
            throw ConfigurationError("invalid \(setting) entry \(url): expected http://host:port")
        }
        var rest = Substring(url.dropFirst("http://".count))
        var basePath = ""
        if let slash = rest.firstIndex(of: "/") {
            basePath = String(rest[slash...])
            rest = rest[..<slash]
            while basePath.hasSuffix("/") { basePath.removeLast() }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ConfigurationError("invalid \(setting) entry \(url): unclosed [") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw ConfigurationError("invalid \(setting) entry \(url)")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        let port = portText.map { Int($0) } ?? 80
        guard !host.isEmpty, let port, (1...65535).contains(port),
            host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" })
        else {
            throw ConfigurationError("invalid \(setting) entry \(url): expected http://host:port")
        }
        self.init(host: String(host), port: port, basePath: basePath)
    }

    /// Whether the host is an IP address literal (no resolution needed).
    public var isAddressLiteral: Bool {
        if self.host.contains(":") { return true }
        let parts = self.host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }

    /// The `Host` header value sent to replicas of this target.
    public var authority: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port == 80 ? host : "\(host):\(self.port)"
    }

    public var description: String { "http://\(self.authority)\(self.basePath)" }
}

/// Parses a replica list setting (comma-separated `http://host:port` URLs).
func parseTargets(_ values: [String], key: String) throws(ConfigurationError) -> [ReplicaTarget] {
    guard !values.isEmpty else { throw ConfigurationError("\(key) must list at least one http:// URL") }
    var targets: [ReplicaTarget] = []
    for value in values { targets.append(try ReplicaTarget(url: value, setting: key)) }
    return targets
}
