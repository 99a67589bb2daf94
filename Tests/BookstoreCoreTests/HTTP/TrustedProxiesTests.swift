import BookstoreCore
import Testing

@Suite struct TrustedProxiesTests {
    func trusted(_ entries: String) throws -> TrustedProxies {
        try TrustedProxies(settings: Settings(environment: ["TRUSTED_PROXIES": entries]), key: "TRUSTED_PROXIES")
    }

    @Test func ipv4AddressesAndNetworks() throws {
        let proxies = try self.trusted("10.0.0.0/8, 192.168.1.7,172.16.0.0/12")
        for address in ["10.0.0.1", "10.255.255.255", "192.168.1.7", "172.16.0.1", "172.31.255.254"] {
            #expect(proxies.contains(address), "\(address)")
        }
        for address in ["11.0.0.1", "9.255.255.255", "192.168.1.8", "172.32.0.1", "::1", "fe80::1", "", "unknown", "10.0.0.1:80"] {
            #expect(!proxies.contains(address), "\(address)")
        }
    }

    @Test(arguments: [
        ("0.0.0.0/0", "203.0.113.9", true), ("0.0.0.0/0", "::1", false), ("1.2.3.4/32", "1.2.3.4", true),
        ("1.2.3.4/32", "1.2.3.5", false), ("1.2.3.4/31", "1.2.3.5", true), ("1.2.3.4/31", "1.2.3.6", false),
        ("128.0.0.0/1", "200.1.1.1", true), ("128.0.0.0/1", "127.255.255.255", false), ("10.1.2.3/8", "10.200.0.1", true),
        ("127.0.0.1", "::ffff:127.0.0.1", true), ("127.0.0.0/8", "::ffff:7f00:1", true), ("::ffff:127.0.0.1", "127.0.0.1", true),
        ("::1", "::1", true), ("::1", "0:0:0:0:0:0:0:1", true), ("::1/128", "::2", false), ("::/0", "2001:db8::1", true),
        ("::/0", "10.0.0.1", true), ("fd00::/8", "fd12:3456::1", true), ("fd00::/8", "fe00::1", false),
        ("2001:db8::/32", "2001:DB8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false), ("2001:db8::/127", "2001:db8::1", true),
        ("2001:db8::/127", "2001:db8::2", false), ("2001:db8:0:0:1::/65", "2001:db8::1:0:0:1", true),
        ("2001:db8:0:0:1::/65", "2001:db8::8000:0:0:1", false), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", true),
        ("1::", "1:0:0:0:0:0:0:0", true), ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", true),
    ])
    func cidrMatching(entry: String, address: String, expected: Bool) throws {
        #expect(try self.trusted(entry).contains(address) == expected)
    }

    @Test(arguments: [
        "10.0.0.0/33", "10.0.0/8", "10.0.0.256", "1.2.3.4.5", "01.2.3.4", "1.2.3.4/", "1.2.3.4/08", "1.2.3.4/-1", "::1/129",
        "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":::", "1:", ":1", "12345::", "g::1", "::1%eth0", "localhost",
        "10.0.0.1 10.0.0.2", "1:2:3:4:5:6:7::8", "::ffff:1.2.3", "1.2.3.4::",
    ])
    func malformedEntriesAreConfigurationErrors(entry: String) {
        #expect(throws: ConfigurationError.self, "\(entry)") { try self.trusted(entry) }
    }

    @Test func theErrorNamesTheSettingAndTheEntry() throws {
        do {
            _ = try TrustedProxies(settings: Settings(environment: ["GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,nope"]), key: "GATEWAY_TRUSTED_PROXIES")
            Issue.record("accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("GATEWAY_TRUSTED_PROXIES") && text.contains("nope"), "\(text)")
        }
        #expect(try TrustedProxies(settings: Settings(), key: "TRUSTED_PROXIES").isEmpty, "none by default")
    }

    @Test func theClientIsThePeerUnlessThePeerIsTrusted() throws {
        let proxies = try self.trusted("127.0.0.1, 10.0.0.0/8")
        #expect(proxies.clientAddress(peer: "203.0.113.9", forwardedFor: "198.51.100.1") == "203.0.113.9", "an untrusted peer")
        #expect(proxies.clientAddress(peer: nil, forwardedFor: "198.51.100.1") == "unknown")
        #expect(TrustedProxies.none.clientAddress(peer: "127.0.0.1", forwardedFor: "198.51.100.1") == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: nil) == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: " , ") == "127.0.0.1", "no hop")
        // From the right, the first hop that is not a trusted proxy.
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: "198.51.100.1") == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "::ffff:127.0.0.1", forwardedFor: "192.0.2.1, 198.51.100.1") == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: "192.0.2.1,198.51.100.1 , 10.1.1.1,10.2.2.2") == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "10.3.3.3", forwardedFor: "2001:db8::7, 10.1.1.1") == "2001:db8::7")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: "unknown, 10.1.1.1") == "unknown", "a hop that is no address")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: "10.9.9.9, 10.1.1.1") == "10.9.9.9", "every hop trusted: the leftmost")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: "10.9.9.9,, 10.1.1.1, ") == "10.9.9.9", "empty hops are skipped")
    }
}
