import ConformanceKit
import JSONKit
import Testing

@Suite struct SecuritySuiteTests {
    static func endpoints(_ url: String) -> TargetEndpoints {
        TargetEndpoints(baseURL: url, contracts: Harness.contracts)
    }

    @Test func aSystemRejectingUnsignedTokensPasses() async throws {
        try await FakeServer.with(FakeBookstore().router) { url in
            let results = try await Harness.run(
                ["SEC-JWT-ALG-NONE-401", "SEC-JWT-MISSING-401", "SEC-JWT-FORGED-401"],
                endpoints: Self.endpoints(url)
            )
            for (id, result) in results { #expect(result.status == .passed, "\(id): \(result.status.message ?? "")") }
        }
    }

    @Test func aProtectedRouteAcceptingAlgNoneFails() async throws {
        try await FakeServer.with(FakeBookstore(defects: .init(acceptsAlgNone: true)).router) { url in
            let results = try await Harness.run(["SEC-JWT-ALG-NONE-401"], endpoints: Self.endpoints(url))
            let result = try #require(results["SEC-JWT-ALG-NONE-401"])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("GET /api/users/me → 200") == true, "\(result.status.message ?? "")")
        }
    }

    @Test func expiredTokensAreSkippedWithoutTheSecretAndCheckedWithIt() async throws {
        try await FakeServer.with(FakeBookstore().router) { url in
            let without = try await Harness.run(["SEC-JWT-EXPIRED-401"], endpoints: Self.endpoints(url))
            let skipped = try #require(without["SEC-JWT-EXPIRED-401"])
            #expect(skipped.status.isSkipped)
            #expect(skipped.status.message?.contains("--jwt-secret") == true)
            var endpoints = Self.endpoints(url)
            endpoints.signingKey = SigningKey(secret: String(decoding: FakeBookstore.secret, as: UTF8.self))
            let with = try await Harness.run(["SEC-JWT-EXPIRED-401"], endpoints: endpoints)
            #expect(with["SEC-JWT-EXPIRED-401"]?.status == .passed, "\(with["SEC-JWT-EXPIRED-401"]?.status.message ?? "")")
            endpoints.signingKey = SigningKey(secret: "the-wrong-secret-0123456789abcdefghij")
            let wrong = try await Harness.run(["SEC-JWT-EXPIRED-401"], endpoints: endpoints)
            #expect(wrong["SEC-JWT-EXPIRED-401"]?.status.isFailure == true, "a wrong secret is reported, not passed")
        }
    }

    @Test func aServerErrorOnMalformedInputFails() async throws {
        try await FakeServer.with(FakeBookstore(defects: .init(crashesOnBadRating: true)).router) { url in
            let results = try await Harness.run(["SEC-MALFORMED-REVIEWS-CREATE"], endpoints: Self.endpoints(url))
            let result = try #require(results["SEC-MALFORMED-REVIEWS-CREATE"])
            #expect(result.status.isFailure)
            #expect(
                result.status.message?.contains("rating = ") == true && result.status.message?.contains("500") == true,
                "\(result.status.message ?? "")"
            )
        }
    }

    @Test func aSystemAnsweringMalformedInputWith4xxPasses() async throws {
        try await FakeServer.with(FakeBookstore().router) { url in
            let results = try await Harness.run(["SEC-MALFORMED-REVIEWS-CREATE"], endpoints: Self.endpoints(url))
            #expect(results["SEC-MALFORMED-REVIEWS-CREATE"]?.status == .passed, "\(results["SEC-MALFORMED-REVIEWS-CREATE"]?.status.message ?? "")")
        }
    }

    @Test func forgedTokensKeepTheClaimsButNotTheSignature() throws {
        let claims: JSON = ["sub": "u1", "exp": 9_999_999_999]
        let token = JWTForge.sign(header: JWTForge.header(alg: "HS256"), claims: claims, secret: Array("k".utf8), algorithm: "HS256")
        let parts = try #require(JWTForge.decode(token))
        #expect(parts.claims == claims)
        #expect(parts.header["alg"] == "HS256")
        let other = JWTForge.sign(header: parts.header, claims: claims, secret: Array("other".utf8), algorithm: "HS256")
        #expect(other != token)
        #expect(JWTForge.with(claims, ["exp": nil])["exp"] == nil)
    }
}
