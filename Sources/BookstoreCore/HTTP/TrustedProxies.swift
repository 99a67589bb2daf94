/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES` for the services, `GATEWAY_TRUSTED_PROXIES` for the
/// gateway), and the rule that finds the client address of a request. Pure, and free of allocations except for the
/// address it returns.
///
/// Entries are IPv4 or IPv6 addresses or CIDR networks, comma-separated: `10.0.0.0/8, 127.0.0.1, fd00::/8`. IPv4 is
/// compared as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so `127.0.0.1` also matches a peer that a dual-stack socket reports as
/// `::ffff:127.0.0.1`, and `a.b.c.d/n` is `::ffff:a.b.c.d/(96 + n)`. Host bits below the prefix are ignored.
///
/// The client address of a request is its TCP peer, unless the peer is trusted. Then the `X-Forwarded-For` hops are read
/// from right to left, skipping trusted ones: the first untrusted hop is the client (every hop trusted: the leftmost).
/// Each proxy appends the address it received the request from, so the hops right of that one were written by trusted
/// proxies, and everything left of it is what the client claimed. Hops are taken as written: one that is not an address
/// (`unknown`, a port suffix) is untrusted, so it is the client.
public struct TrustedProxies: Sendable, Equatable, CustomStringConvertible {
    /// A network: an address with the leading `prefixLength` of its 128 bits significant.
    struct Network: Sendable, Equatable {
        let address: IPBits
        let prefixLength: Int

        init(address: IPBits, prefixLength: Int) {
            self.address = address.masked(prefixLength: prefixLength)
            self.prefixLength = prefixLength
        }

        func contains(_ address: IPBits) -> Bool {
            address.masked(prefixLength: self.prefixLength) == self.address
        }
    }

    private let networks: [Network]
    /// The entries as configured, for logs and errors.
    public let description: String

    /// No trusted proxy: the peer is always the client.
    public static let none = TrustedProxies(networks: [], description: "")

    private init(networks: [Network], description: String) {
        self.networks = networks
        self.description = description
    }

    /// Parses entries such as `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8`.
    /// - Throws: ``ConfigurationError`` naming `setting` and the first malformed entry.
    public init(_ entries: [String], setting: String = "TRUSTED_PROXIES") throws(ConfigurationError) {
        var networks: [Network] = []
        for entry in entries {
            guard let network = Self.network(entry) else {
                throw ConfigurationError(
                    "invalid \(setting) entry \(entry): expected an IPv4 or IPv6 address or CIDR network (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8)"
                )
            }
            networks.append(network)
        }
        self.init(networks: networks, description: entries.joined(separator: ","))
    }

    /// Reads the comma-separated setting `key` (default: none).
    public init(settings: Settings, key: String) throws(ConfigurationError) {
        try self.init(settings.list(key), setting: key)
    }

    public static func == (lhs: TrustedProxies, rhs: TrustedProxies) -> Bool {
        lhs.networks == rhs.networks
    }

    public var isEmpty: Bool { self.networks.isEmpty }

    /// Whether `address` (its text) is a trusted proxy; false when it is not an IP address.
    public func contains(_ address: UnsafeRawBufferPointer) -> Bool {
        guard !self.networks.isEmpty, let bits = IPBits.parse(address) else { return false }
        return self.networks.contains { $0.contains(bits) }
    }

    /// Whether `address` is a trusted proxy; false when it is not an IP address.
    public func contains(_ address: String) -> Bool {
        guard !self.networks.isEmpty else { return false }
        var address = address
        return address.withUTF8 { self.contains(UnsafeRawBufferPointer($0)) }
    }

    /// The client's hop in an `X-Forwarded-For` value (all its field lines joined with commas): from the right, the
    /// first hop that is not trusted, else the leftmost hop. Nil when the value has no hop. The caller has checked that
    /// the peer is trusted.
    /// - Returns: the hop's byte range in `value`, without surrounding spaces.
    public func clientHop(in value: UnsafeRawBufferPointer) -> Range<Int>? {
        var leftmost: Range<Int>?
        var end = value.count
        while true {
            var start = end
            while start > 0, value[start - 1] != UInt8(ascii: ",") { start -= 1 }
            var lower = start
            var upper = end
            while lower < upper, value[lower] == UInt8(ascii: " ") || value[lower] == UInt8(ascii: "\t") { lower += 1 }
            while upper > lower, value[upper - 1] == UInt8(ascii: " ") || value[upper - 1] == UInt8(ascii: "\t") { upper -= 1 }
            if lower < upper {
                if !self.contains(UnsafeRawBufferPointer(rebasing: value[lower..<upper])) { return lower..<upper }
                leftmost = lower..<upper
            }
            guard start > 0 else { return leftmost }
            end = start - 1
        }
    }

    /// The client address of a request (see the type's description).
    /// - Parameters:
    ///   - peer: the TCP peer's address; nil when unknown (never trusted).
    ///   - forwardedFor: the request's `X-Forwarded-For` field lines joined with commas, if any.
    /// - Returns: the client address, `unknown` when the peer is unknown.
    public func clientAddress(peer: String?, forwardedFor: String?) -> String {
        guard let peer else { return "unknown" }
        guard var forwardedFor, self.contains(peer) else { return peer }
        return forwardedFor.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            guard let hop = self.clientHop(in: raw) else { return peer }
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[hop]), as: UTF8.self)
        }
    }

    /// The network an entry names; nil when it is malformed.
    static func network(_ entry: String) -> Network? {
        var entry = entry.trimmingWhitespace()
        return entry.withUTF8 { bytes -> Network? in
            let raw = UnsafeRawBufferPointer(bytes)
            let slash = raw.firstIndex(of: UInt8(ascii: "/")) ?? raw.count
            let isIPv4 = !raw[..<slash].contains(UInt8(ascii: ":"))
            guard let address = IPBits.parse(UnsafeRawBufferPointer(rebasing: raw[..<slash])) else { return nil }
            let maximum = isIPv4 ? 32 : 128
            var prefixLength = maximum
            if slash < raw.count {
                let digits = raw[(slash + 1)...]
                guard (1...3).contains(digits.count), digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                    digits.count == 1 || digits.first != UInt8(ascii: "0")
                else { return nil }
                prefixLength = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                guard prefixLength <= maximum else { return nil }
            }
            return Network(address: address, prefixLength: isIPv4 ? 96 + prefixLength : prefixLength)
        }
    }
}

/// A 128-bit IPv6 address (IPv4 as IPv4-mapped IPv6), parsed from text without allocating.
struct IPBits: Sendable, Equatable {
    var high: UInt64
    var low: UInt64

    static let zero = IPBits(high: 0, low: 0)

    /// The address with all bits after the first `prefixLength` cleared.
    func masked(prefixLength: Int) -> IPBits {
        let highMask: UInt64 = prefixLength >= 64 ? .max : (prefixLength <= 0 ? 0 : ~(UInt64.max >> UInt64(prefixLength)))
        let lowMask: UInt64 = prefixLength <= 64 ? 0 : (prefixLength >= 128 ? .max : ~(UInt64.max >> UInt64(prefixLength - 64)))
        return IPBits(high: self.high & highMask, low: self.low & lowMask)
    }

    /// Shifts `group` in from the right (the address moves 16 bits to the left).
    mutating func append(_ group: UInt16) {
        self.high = (self.high << 16) | (self.low >> 48)
        self.low = (self.low << 16) | UInt64(group)
    }

    /// The address moved `bits` (0...128) to the left.
    func shiftedLeft(_ bits: Int) -> IPBits {
        if bits <= 0 { return self }
        if bits >= 128 { return .zero }
        if bits >= 64 { return IPBits(high: self.low << UInt64(bits - 64), low: 0) }
        return IPBits(high: (self.high << UInt64(bits)) | (self.low >> UInt64(64 - bits)), low: self.low << UInt64(bits))
    }

    /// Parses a dotted-quad IPv4 address (as `::ffff:a.b.c.d`) or an IPv6 address (RFC 4291 §2.2 text forms, without a
    /// zone). Nil when `text` is anything else.
    static func parse(_ text: UnsafeRawBufferPointer) -> IPBits? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        if !text.contains(UInt8(ascii: ":")) {
            guard let v4 = self.parseIPv4(text) else { return nil }
            return IPBits(high: 0, low: 0x0000_FFFF_0000_0000 | UInt64(v4))
        }
        return self.parseIPv6(text)
    }

    /// `a.b.c.d`, each part 0...255 in decimal without leading zeros.
    static func parseIPv4(_ text: UnsafeRawBufferPointer) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var parts = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                part = 0
                digits = 0
            } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                guard digits == 0 || part != 0 else { return nil }  // a leading zero
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    /// Eight groups of 1-4 hex digits, one `::` standing for one or more zero groups, an IPv4 address as the last two.
    static func parseIPv6(_ text: UnsafeRawBufferPointer) -> IPBits? {
        let count = text.count
        var head = IPBits.zero
        var headGroups = 0
        var tail = IPBits.zero
        var tailGroups = 0
        var compressed = false
        var index = 0
        if text[0] == UInt8(ascii: ":") {
            guard count >= 2, text[1] == UInt8(ascii: ":") else { return nil }
            compressed = true
            index = 2
            if index == count { return .zero }
        }
        while true {
            // One group, from `index` to the next colon or the end.
            var group: UInt32 = 0
            var digits = 0
            var end = index
            while end < count, text[end] != UInt8(ascii: ":") {
                let byte = text[end]
                let nibble: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
                case UInt8(ascii: "."):
                    // An IPv4 address ends the text and counts as two groups.
                    guard let v4 = self.parseIPv4(UnsafeRawBufferPointer(rebasing: text[index...])) else { return nil }
                    guard headGroups + tailGroups + 2 <= 8 else { return nil }
                    if compressed {
                        tail.append(UInt16(v4 >> 16))
                        tail.append(UInt16(v4 & 0xFFFF))
                        tailGroups += 2
                    } else {
                        head.append(UInt16(v4 >> 16))
                        head.append(UInt16(v4 & 0xFFFF))
                        headGroups += 2
                    }
                    return self.assemble(head, headGroups, tail, tailGroups, compressed: compressed)
                default: return nil
                }
                group = group << 4 | UInt32(nibble)
                digits += 1
                guard digits <= 4 else { return nil }
                end += 1
            }
            guard digits > 0, headGroups + tailGroups < 8 else { return nil }
            if compressed {
                tail.append(UInt16(group))
                tailGroups += 1
            } else {
                head.append(UInt16(group))
                headGroups += 1
            }
            if end == count { break }
            // `text[end]` is a colon: `::` (once) or a separator before another group.
            if end + 1 < count, text[end + 1] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                index = end + 2
                if index == count { break }
            } else {
                index = end + 1
                guard index < count else { return nil }
            }
        }
        return self.assemble(head, headGroups, tail, tailGroups, compressed: compressed)
    }

    private static func assemble(_ head: IPBits, _ headGroups: Int, _ tail: IPBits, _ tailGroups: Int, compressed: Bool) -> IPBits? {
        if compressed {
            guard headGroups + tailGroups <= 7 else { return nil }
        } else {
            guard headGroups == 8 else { return nil }
        }
        let top = head.shiftedLeft(16 * (8 - headGroups))
        return IPBits(high: top.high | tail.high, low: top.low | tail.low)
    }
}
