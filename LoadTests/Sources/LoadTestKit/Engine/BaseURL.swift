/// An `http://host[:port][/prefix]` URL that requests are sent to. Only plain HTTP/1.1 is supported.
public struct BaseURL: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address.
    public let host: String
    /// TCP port.
    public let port: Int
    /// Path prefix without a trailing slash (empty for none), prepended to every request path.
    public let pathPrefix: String

    /// Parses a URL.
    ///
    /// - Throws: ``ScenarioError`` for anything but an `http://` URL with a host.
    public init(_ text: String) throws(ScenarioError) {
        var rest = Substring(text.trimmingSpaces())
        guard rest.lowercased().hasPrefix("http://") else {
            if rest.lowercased().hasPrefix("https://") {
                throw ScenarioError("base URL '\(text)': https is not supported; loadtest speaks plain HTTP/1.1 (use http://)")
            }
            throw ScenarioError("base URL '\(text)' must start with http://")
        }
        rest = rest.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var path = String(rest.dropFirst(authority.count))
        if let cut = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<cut]) }
        while path.hasSuffix("/") { path.removeLast() }
        var host: Substring
        var port = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ScenarioError("base URL '\(text)': unterminated IPv6 address") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { throw ScenarioError("base URL '\(text)': invalid port") }
                port = value
            } else if !after.isEmpty {
                throw ScenarioError("base URL '\(text)': unexpected text after the address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else {
                throw ScenarioError("base URL '\(text)': invalid port")
            }
            port = value
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains("@") else { throw ScenarioError("base URL '\(text)' has no host") }
        self.host = String(host)
        self.port = port
        self.pathPrefix = path
    }

    /// The `Host` header value.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    public var description: String { "http://\(hostHeader)\(pathPrefix)" }
}
