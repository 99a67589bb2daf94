import BookstoreCore
import Foundation
import Testing

@Suite struct TokenServiceTests {
    func service(_ algorithm: TokenSettings.Algorithm = .hs512, secret: String = testSecret, lifetime: Int = 3600) -> TokenService {
        TokenService(settings: TokenSettings(secret: secret, algorithm: algorithm, lifetimeSeconds: lifetime))
    }

    let identity = Identity(userID: "u1", username: "alice", email: "a@example.com", roles: ["ROLE_USER"])

    @Test(arguments: TokenSettings.Algorithm.allCases)
    func issuesAndVerifiesEveryAlgorithm(_ algorithm: TokenSettings.Algorithm) async throws {
        let tokens = self.service(algorithm)
        let token = tokens.issue(for: self.identity)
        #expect(try tokens.verify(token) == self.identity)
    }

    @Test func rejectsForgedExpiredNoneAndOtherAlgorithms() async throws {
        let tokens = self.service()
        let forged = self.service(secret: "another-secret-that-is-long-enough-xxxxx").issue(for: self.identity)
        #expect(throws: APIError.self) { try tokens.verify(forged) }
        let expired = tokens.issue(for: self.identity, now: Date().addingTimeInterval(-7200))
        #expect(throws: APIError.self) { try tokens.verify(expired) }
        let otherAlgorithm = self.service(.hs256).issue(for: self.identity)
        #expect(throws: APIError.self) { try tokens.verify(otherAlgorithm) }
        let valid = tokens.issue(for: self.identity)
        let parts = valid.split(separator: ".")
        let noneHeader = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(throws: APIError.self) { try tokens.verify("\(noneHeader).\(parts[1]).") }
        #expect(throws: APIError.self) { try tokens.verify("not-a-token") }
    }

    @Test func aTokenVerifiedBeforeStillExpiresAndATamperedCopyStillFails() throws {
        let tokens = self.service(lifetime: 60)
        let issuedAt = Date()
        let token = tokens.issue(for: self.identity, now: issuedAt)
        #expect(try tokens.verify(token, now: issuedAt) == self.identity)
        #expect(try tokens.verify(token, now: issuedAt.addingTimeInterval(30)) == self.identity, "a repeat is looked up")
        let expired = #expect(throws: APIError.self) { try tokens.verify(token, now: issuedAt.addingTimeInterval(61)) }
        #expect(expired?.message == "Token expired")
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: APIError.self) { try tokens.verify(String(decoding: tampered, as: UTF8.self), now: issuedAt) }
    }

    @Test func base64URLFollowsRFC4648WithoutPaddingAndRejectsOtherAlphabets() {
        // RFC 4648 §10 vectors, unpadded.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(plain.utf8) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x00, 0x3E]
        #expect(Base64URL.encode(bytes) == "-_-_AD4")
        #expect(Base64URL.decode("-_-_AD4") == bytes)
        for invalid in ["Zg==", "+/+/", "Zm9vY", "Zm 9v", "Zm9v\n"] { #expect(Base64URL.decode(invalid) == nil, "\(invalid)") }
    }

    @Test func refusesShortSecretsAndUnknownAlgorithms() {
        #expect(throws: ConfigurationError.self) { try TokenSettings(settings: Settings(environment: ["JWT_SECRET": "short"])) }
        #expect(throws: ConfigurationError.self) {
            try TokenSettings(settings: Settings(environment: ["JWT_SECRET": testSecret, "JWT_ALGORITHM": "RS256"]))
        }
        #expect(throws: ConfigurationError.self) { try TokenSettings(settings: Settings(environment: [:])) }
    }
}
