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

    @Test func refusesShortSecretsAndUnknownAlgorithms() {
        #expect(throws: ConfigurationError.self) { try TokenSettings(settings: Settings(environment: ["JWT_SECRET": "short"])) }
        #expect(throws: ConfigurationError.self) {
            try TokenSettings(settings: Settings(environment: ["JWT_SECRET": testSecret, "JWT_ALGORITHM": "RS256"]))
        }
        #expect(throws: ConfigurationError.self) { try TokenSettings(settings: Settings(environment: [:])) }
    }
}
