import NIOHTTP1

/// Header handling of the proxy: hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded, nor are the headers a
/// `Connection` header names; the gateway sets the forwarding and request-id headers itself.
enum HeaderRules {
    /// What to do with a header when forwarding.
    enum Disposition {
        case keep
        /// Hop-by-hop, or set by the gateway: not forwarded.
        case drop
    }

    /// Request headers: hop-by-hop ones, `Host`, `Expect` (the gateway answers `100-continue` itself), and those the
    /// gateway sets (`X-Forwarded-*`, `X-Request-ID`) are dropped; framing headers are set from the request.
    static func requestDisposition(_ name: String) -> Disposition {
        switch name.utf8.count {
        case 2: return name.equalsIgnoringASCIICase("te") ? .drop : .keep
        case 4: return name.equalsIgnoringASCIICase("host") ? .drop : .keep
        case 6: return name.equalsIgnoringASCIICase("expect") ? .drop : .keep
        case 7: return name.equalsIgnoringASCIICase("trailer") || name.equalsIgnoringASCIICase("upgrade") ? .drop : .keep
        case 8: return name.equalsIgnoringASCIICase("trailers") ? .drop : .keep
        case 10: return name.equalsIgnoringASCIICase("connection") || name.equalsIgnoringASCIICase("keep-alive") ? .drop : .keep
        case 12: return name.equalsIgnoringASCIICase("x-request-id") ? .drop : .keep
        case 14: return name.equalsIgnoringASCIICase("content-length") ? .drop : .keep
        case 15: return name.equalsIgnoringASCIICase("x-forwarded-for") ? .drop : .keep
        case 16: return name.equalsIgnoringASCIICase("x-forwarded-host") || name.equalsIgnoringASCIICase("proxy-connection") ? .drop : .keep
        case 17:
            return name.equalsIgnoringASCIICase("x-forwarded-proto") || name.equalsIgnoringASCIICase("transfer-encoding") ? .drop : .keep
        case 18: return name.equalsIgnoringASCIICase("proxy-authenticate") ? .drop : .keep
        case 19: return name.equalsIgnoringASCIICase("proxy-authorization") ? .drop : .keep
        default: return .keep
        }
    }

    /// Response headers: hop-by-hop ones, framing (`Transfer-Encoding`; the gateway re-frames), and those the gateway
    /// sets (`X-Request-ID`, `X-Gateway-Service`) are dropped. `Content-Length` is kept.
    static func responseDisposition(_ name: String) -> Disposition {
        switch name.utf8.count {
        case 2: return name.equalsIgnoringASCIICase("te") ? .drop : .keep
        case 7: return name.equalsIgnoringASCIICase("trailer") || name.equalsIgnoringASCIICase("upgrade") ? .drop : .keep
        case 8: return name.equalsIgnoringASCIICase("trailers") ? .drop : .keep
        case 10: return name.equalsIgnoringASCIICase("connection") || name.equalsIgnoringASCIICase("keep-alive") ? .drop : .keep
        case 12: return name.equalsIgnoringASCIICase("x-request-id") ? .drop : .keep
        case 16: return name.equalsIgnoringASCIICase("proxy-connection") ? .drop : .keep
        case 17:
            return name.equalsIgnoringASCIICase("transfer-encoding") || name.equalsIgnoringASCIICase("x-gateway-service") ? .drop : .keep
        case 18: return name.equalsIgnoringASCIICase("proxy-authenticate") ? .drop : .keep
        case 19: return name.equalsIgnoringASCIICase("proxy-authorization") ? .drop : .keep
        default: return .keep
        }
    }

    /// The header names listed in `Connection` other than `close`/`keep-alive` (lowercased); nil when there are none,
    /// which is the usual case.
    static func connectionListedNames(_ headers: HTTPHeaders) -> [String]? {
        var names: [String]?
        for (name, value) in headers where name.equalsIgnoringASCIICase("connection") {
            for token in value.split(separator: ",") {
                let trimmed = token.trimmingASCIISpaces()
                if trimmed.isEmpty || trimmed.equalsIgnoringASCIICase("close") || trimmed.equalsIgnoringASCIICase("keep-alive") { continue }
                names = (names ?? []) + [trimmed.lowercased()]
            }
        }
        return names
    }

    /// Whether `name` is in `listed` (lowercased names).
    static func isListed(_ name: String, in listed: [String]?) -> Bool {
        guard let listed else { return false }
        return listed.contains { name.equalsIgnoringASCIICase($0) }
    }
}

extension StringProtocol {
    /// ASCII case-insensitive equality with `other` (compared byte by byte; header names are ASCII).
    @inlinable
    func equalsIgnoringASCIICase(_ other: some StringProtocol) -> Bool {
        let lhs = self.utf8
        let rhs = other.utf8
        guard lhs.count == rhs.count else { return false }
        var index = rhs.startIndex
        for byte in lhs {
            let a = byte | ((byte &- 65) < 26 ? 0x20 : 0)
            let raw = rhs[index]
            let b = raw | ((raw &- 65) < 26 ? 0x20 : 0)
            if a != b { return false }
            index = rhs.index(after: index)
        }
        return true
    }

    /// The string without leading and trailing spaces and tabs.
    func trimmingASCIISpaces() -> SubSequence {
        var start = self.startIndex
        var end = self.endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = self.index(after: start) }
        while end > start, self[self.index(before: end)] == " " || self[self.index(before: end)] == "\t" { end = self.index(before: end) }
        return self[start..<end]
    }
}
