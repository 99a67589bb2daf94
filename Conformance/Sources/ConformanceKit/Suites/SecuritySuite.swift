import ContractKit
import Foundation
import JSONKit

/// security: protected routes reject missing, expired, forged and `alg: none` tokens (401 on every protected
/// operation of the documents, through the gateway); users cannot act for other users (403); malformed input never
/// yields a 5xx or leaks internals.
public enum SecuritySuite {
    public static var checks: [Check] {
        self.tokenChecks + self.directTokenChecks + self.crossUserChecks + MalformedInput.checks
    }

    static func check(
        _ id: String,
        _ summary: String,
        requires: Set<Capability> = [.http, .contracts],
        timeLimit: Duration = .seconds(120),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .security, summary, requires: requires, timeLimit: timeLimit, body: body)
    }

    // MARK: Tokens

    /// Sends `authorization` (nil: none) to every protected operation of the documents; fails listing the
    /// operations that did not answer 401.
    static func expectEverywhere401(_ context: CheckContext, authorization: String?, label: String) async throws {
        guard let contracts = context.endpoints.contracts else { throw CheckSkip("no OpenAPI documents") }
        let operations = contracts.gatewayOperations.filter(\.requiresAuthentication)
        try context.require(!operations.isEmpty, expected: "protected operations in the documents", seen: "none")
        var accepted: [String] = []
        var statuses: [Int: Int] = [:]
        for operation in operations {
            let path = operation.gatewayPath { _ in UUID().uuidString.lowercased() }
            var headers: [(String, String)] = authorization.map { [("Authorization", $0)] } ?? []
            var body: [UInt8]?
            if operation.takesJSONBody || operation.method == "POST" || operation.method == "PUT" {
                headers.append(("Content-Type", "application/json"))
                body = Array("{}".utf8)
            }
            let response = try await context.http.send(operation.method, path, headers: headers, body: body, record: false)
            statuses[response.status, default: 0] += 1
            if response.status != 401 {
                context.evidence.add(.exchange(HTTPExchange(response)))
                accepted.append("\(operation.method) \(path) → \(response.status)")
            } else if let violations = context.endpoints.contracts?.violations(of: response), !violations.isEmpty {
                accepted.append("\(operation.method) \(path) → 401 off-contract: \(violations.first ?? "")")
            }
        }
        context.measure("\(label): operations probed", String(operations.count))
        context.measure("\(label): statuses", statuses.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", "))
        try context.require(
            accepted.isEmpty,
            expected: "401 (JSON, per contract) from all \(operations.count) protected operations with \(label)",
            seen: "\(accepted.count) other answers: " + accepted.prefix(6).joined(separator: "; ") + (accepted.count > 6 ? "; …" : "")
        )
    }

    /// Every service verifies tokens itself (SPEC §3), so a request that bypasses the gateway is refused too.
    static var directTokenChecks: [Check] {
        ["users", "payments-python", "payments-java", "reviews"].map { service in
            self.check(
                "SEC-DIRECT-JWT-\(service.uppercased())",
                "Called directly, not through the gateway, \(service) itself answers 401 to missing, forged, alg-none and (with the key) expired tokens on "
                    + "every protected operation, and accepts the real token",
                requires: [.http, .contracts, .directServices]
            ) { context in
                try await self.expectServiceVerifiesTokens(context, service: service)
            }
        }
    }

    static func expectServiceVerifiesTokens(_ context: CheckContext, service: String) async throws {
        guard let base = context.endpoints.serviceURLs[service] else { throw CheckSkip("no --service-url for \(service)") }
        guard let document = context.endpoints.contracts?.documents[service] else { throw CheckSkip("no OpenAPI document for \(service)") }
        let operations = document.operations.filter(\.requiresAuthentication)
        try context.require(!operations.isEmpty, expected: "protected operations in \(service).openapi.yaml", seen: "none")
        let (user, parts) = try await self.realToken(context)
        let algorithm = parts.header["alg"]?.stringValue ?? "HS512"
        let forged = JWTForge.sign(header: parts.header, claims: parts.claims, secret: JWTForge.randomBytes(64), algorithm: algorithm)
        let unsigned = JWTForge.compact(header: JWTForge.header(alg: "none"), claims: parts.claims, signature: "")
        var variants: [(label: String, authorization: String?)] = [
            ("no token", nil), ("a token signed with another key", "Bearer " + forged), ("alg none", "Bearer " + unsigned),
        ]
        // With the signing key, also a correctly signed token that expired an hour ago.
        if let key = context.endpoints.signingKey {
            let now = Int(Date().timeIntervalSince1970)
            let signing = key.algorithm ?? algorithm
            let expired = JWTForge.sign(
                header: JWTForge.header(alg: signing),
                claims: JWTForge.with(parts.claims, ["iat": .int(now - 7200), "exp": .int(now - 3600)]),
                secret: Array(key.secret.utf8),
                algorithm: signing
            )
            variants.append(("an expired token", "Bearer " + expired))
        }
        var accepted: [String] = []
        var refusedReal: [String] = []
        for operation in operations {
            let url = base + Self.fill(operation.pathTemplate, user: user)
            let hasBody = operation.definition["requestBody"] != nil
            let contentType: [(String, String)] = hasBody ? [("Content-Type", "application/json")] : []
            let body = hasBody ? Array("{}".utf8) : nil
            for variant in variants {
                let headers = contentType + (variant.authorization.map { [("Authorization", $0)] } ?? [])
                let response = try await context.http.send(operation.method, url, headers: headers, body: body, record: false)
                if response.status != 401 {
                    context.evidence.add(.exchange(HTTPExchange(response)))
                    accepted.append("\(operation.method) \(operation.pathTemplate) with \(variant.label) → \(response.status)")
                }
            }
            // The control: the real token is not refused, so the 401s above are the service verifying tokens, not a
            // wrong URL or a service refusing everything.
            let response = try await context.http.send(
                operation.method,
                url,
                headers: contentType + [("Authorization", "Bearer " + user.token)],
                body: body,
                record: false
            )
            if response.status == 401 { refusedReal.append("\(operation.method) \(operation.pathTemplate)") }
        }
        context.measure("operations probed directly at \(base)", String(operations.count))
        try context.require(
            accepted.isEmpty,
            expected: "401 from \(service) itself (at \(base)) on all \(operations.count) protected operations without a valid token",
            seen: "\(accepted.count) other answers: " + accepted.prefix(6).joined(separator: "; ")
        )
        try context.require(
            refusedReal.isEmpty,
            expected: "the real token accepted by \(service) at \(base) (any answer but 401)",
            seen: "401 on " + refusedReal.prefix(6).joined(separator: ", ")
        )
    }

    /// A document path with its parameters filled: the user's id for user ids, a random UUID for the rest.
    static func fill(_ template: String, user: TestUser) -> String {
        var result = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[rest.startIndex..<open]
            let name = rest[rest.index(after: open)..<close].lowercased()
            result += name.contains("user") ? user.id : UUID().uuidString.lowercased()
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// The decoded parts of a real token the system issued to a fixture user.
    static func realToken(_ context: CheckContext) async throws -> (user: TestUser, parts: JWTForge.Parts) {
        let user = try await context.user("alice")
        guard let parts = JWTForge.decode(user.token) else {
            throw CheckFailure(expected: "the login token to be a compact JWS with JSON header and claims", seen: user.token)
        }
        return (user, parts)
    }

    static var tokenChecks: [Check] {
        [
            self.check("SEC-JWT-MISSING-401", "Every protected operation answers 401 without a token") { context in
                try await self.expectEverywhere401(context, authorization: nil, label: "no token")
            },
            self.check("SEC-JWT-GARBAGE-401", "Malformed Authorization headers (empty Bearer, Basic, two segments, junk) answer 401, never 5xx") {
                context in
                let (user, _) = try await self.realToken(context)
                let junk = String(repeating: "x", count: 6000)
                let values = [
                    "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4xMjM=", "Bearer a.b", "Bearer \(junk)", "bearer\(user.token)",
                    "Bearer \(user.token).extra", "Bearer %%%.%%%.%%%", "Token \(user.token)",
                ]
                for value in values {
                    let response = try await context.http.get("/api/users/me", headers: [("Authorization", value)])
                    try context.expectStatus(response, 401, because: "Authorization: \(value.prefix(40))")
                }
            },
            self.check("SEC-JWT-FORGED-401", "Tokens with a forged signature (re-signed with another key, or claims tampered) answer 401 everywhere")
            {
                context in
                let (_, parts) = try await self.realToken(context)
                let algorithm = parts.header["alg"]?.stringValue ?? "HS512"
                let resigned = JWTForge.sign(header: parts.header, claims: parts.claims, secret: JWTForge.randomBytes(64), algorithm: algorithm)
                try await self.expectEverywhere401(context, authorization: "Bearer " + resigned, label: "a token signed with another key")
                let tampered = JWTForge.compact(
                    header: parts.header,
                    claims: JWTForge.with(parts.claims, ["roles": ["ROLE_USER", "ROLE_ADMIN"]]),
                    signature: parts.signature
                )
                try await self.expectEverywhere401(context, authorization: "Bearer " + tampered, label: "claims tampered (ROLE_ADMIN added)")
            },
            self.check("SEC-JWT-ALG-NONE-401", "Unsigned tokens (alg none/None/NONE, with and without a signature) answer 401 everywhere") {
                context in
                let (_, parts) = try await self.realToken(context)
                let admin = JWTForge.with(parts.claims, ["roles": ["ROLE_USER", "ROLE_ADMIN"]])
                let variants = [
                    JWTForge.compact(header: JWTForge.header(alg: "none"), claims: parts.claims, signature: ""),
                    JWTForge.compact(header: JWTForge.header(alg: "None"), claims: admin, signature: ""),
                    JWTForge.compact(header: JWTForge.header(alg: "NONE"), claims: parts.claims, signature: parts.signature),
                    JWTForge.compact(header: ["alg": "none"], claims: admin, signature: parts.signature),
                ]
                for (index, token) in variants.enumerated() {
                    try await self.expectEverywhere401(context, authorization: "Bearer " + token, label: "alg none variant \(index + 1)")
                }
            },
            self.check(
                "SEC-JWT-ALG-CONFUSION-401",
                "Tokens claiming another algorithm (RS256, ES256; other HMAC sizes with the real secret) answer 401"
            ) {
                context in
                let (_, parts) = try await self.realToken(context)
                let signature = JWTForge.base64URLEncode(JWTForge.randomBytes(256))
                for alg in ["RS256", "ES256", "PS256"] {
                    let token = JWTForge.compact(header: JWTForge.header(alg: alg), claims: parts.claims, signature: signature)
                    try await self.expectEverywhere401(context, authorization: "Bearer " + token, label: "alg \(alg)")
                }
                guard let key = context.endpoints.signingKey else {
                    context.note("no --jwt-secret: the other-HMAC-size variants were not tried")
                    return
                }
                let real = parts.header["alg"]?.stringValue ?? key.algorithm ?? "HS512"
                for alg in ["HS256", "HS384", "HS512"] where alg != real {
                    let token = JWTForge.sign(header: JWTForge.header(alg: alg), claims: parts.claims, secret: Array(key.secret.utf8), algorithm: alg)
                    try await self.expectEverywhere401(
                        context,
                        authorization: "Bearer " + token,
                        label: "\(alg) signed with the real secret (system uses \(real))"
                    )
                }
            },
            self.check(
                "SEC-JWT-EXPIRED-401",
                "An expired but correctly signed token answers 401 everywhere (a fresh token minted the same way is accepted)",
                requires: [.http, .contracts, .signingKey]
            ) { context in
                guard let key = context.endpoints.signingKey else { throw CheckSkip("no signing key") }
                let (user, parts) = try await self.realToken(context)
                let algorithm = key.algorithm ?? parts.header["alg"]?.stringValue ?? "HS512"
                let now = Int(Date().timeIntervalSince1970)
                let secret = Array(key.secret.utf8)
                let header = JWTForge.header(alg: algorithm)
                let fresh = JWTForge.sign(
                    header: header,
                    claims: JWTForge.with(parts.claims, ["iat": .int(now - 60), "exp": .int(now + 3600)]),
                    secret: secret,
                    algorithm: algorithm
                )
                let control = try await context.http.get("/api/users/me", token: fresh)
                try context.expectStatus(control, 200, because: "a token minted with --jwt-secret must be accepted, else the secret is wrong")
                try context.require(
                    control.json?["id"]?.stringValue == user.id,
                    expected: "the minted token to identify \(user.id)",
                    seen: control.excerpt
                )
                let expired = JWTForge.sign(
                    header: header,
                    claims: JWTForge.with(parts.claims, ["iat": .int(now - 7200), "exp": .int(now - 3600)]),
                    secret: secret,
                    algorithm: algorithm
                )
                try await self.expectEverywhere401(context, authorization: "Bearer " + expired, label: "a token expired an hour ago")
                let noExpiry = JWTForge.sign(
                    header: header,
                    claims: JWTForge.with(parts.claims, ["exp": nil]),
                    secret: secret,
                    algorithm: algorithm
                )
                let response = try await context.http.get("/api/users/me", token: noExpiry)
                try context.expectStatus(response, 401, because: "a token without exp")
            },
        ]
    }

    // MARK: Cross-user writes

    static var crossUserChecks: [Check] {
        [
            self.check("SEC-CROSS-USER-PROFILE-403", "A user cannot change, deactivate or delete another user's account") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                try context.expectStatus(try await context.http.put("/api/users/\(alice.id)", json: ["firstName": "Mallory"], token: bob.token), 403)
                try context.expectStatus(try await context.http.post("/api/users/\(alice.id)/deactivate", token: bob.token), 403)
                try context.expectStatus(try await context.http.delete("/api/users/\(alice.id)", token: bob.token), 403)
                let after = try await context.http.get("/api/users/\(alice.id)", token: alice.token)
                try context.require(
                    after.json?["firstName"] != "Mallory" && after.json?["active"] == true,
                    expected: "alice's account unchanged",
                    seen: after.excerpt
                )
            },
            self.check("SEC-CROSS-USER-PAYMENTS-403", "A user cannot pay as, read, list or refund another user's payments (both flavours)") {
                context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                for flavour in PaymentFlavour.allCases {
                    let body = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: alice.id)
                    try context.expectStatus(
                        try await context.http.post(flavour.prefix, json: body, token: bob.token),
                        403,
                        because: "paying as alice"
                    )
                    let (_, payment) = try await context.payment(flavour, for: alice)
                    let id = payment[flavour.idKey]?.stringValue ?? ""
                    try context.expectStatus(try await context.http.get("\(flavour.prefix)/\(id)", token: bob.token), 403)
                    try context.expectStatus(try await context.http.get("\(flavour.prefix)/user/\(alice.id)", token: bob.token), 403)
                    try context.expectStatus(try await context.http.post("\(flavour.prefix)/\(id)/refund", token: bob.token), 403)
                    let after = try await context.http.get("\(flavour.prefix)/\(id)", token: alice.token)
                    try context.require(
                        after.json?["data"]?["status"]?.stringValue == flavour.status("completed"),
                        expected: "alice's payment still \(flavour.status("completed"))",
                        seen: after.excerpt
                    )
                }
            },
            self.check("SEC-CROSS-USER-REVIEWS-403", "A user cannot review as, edit or delete another user's review") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let book = await context.uniqueName("book")
                let forged = try await context.http.post("/api/reviews", json: context.reviewBody(bookID: book, userID: alice.id), token: bob.token)
                try context.expectStatus(forged, 403, because: "reviewing as alice")
                let (_, review) = try await context.createReview(by: alice, bookID: book, rating: 5)
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectStatus(try await context.http.put("/api/reviews/\(id)", json: ["rating": 1], token: bob.token), 403)
                try context.expectStatus(try await context.http.delete("/api/reviews/\(id)", token: bob.token), 403)
                let after = try await context.http.get("/api/reviews/\(id)")
                try context.require(after.json?["rating"] == 5, expected: "alice's review unchanged (rating 5)", seen: after.excerpt)
            },
            self.check("SEC-ADMIN-ONLY-403", "Admin operations (list, delete, activate, deactivate users) answer 403 to a plain user") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                try context.expectStatus(try await context.http.get("/api/users", token: alice.token), 403)
                try context.expectStatus(try await context.http.delete("/api/users/\(bob.id)", token: alice.token), 403)
                try context.expectStatus(try await context.http.post("/api/users/\(bob.id)/activate", token: alice.token), 403)
                try context.expectStatus(try await context.http.post("/api/users/\(bob.id)/deactivate", token: alice.token), 403)
            },
            self.check("SEC-REGISTER-NO-ESCALATION", "Registration ignores client-sent roles, active and admin flags: the account is ROLE_USER only")
            { context in
                let username = await context.uniqueName("escalate")
                var body = context.registrationBody(username, password: "secret-123").objectValue ?? [:]
                body["roles"] = ["ROLE_ADMIN"]
                body["role"] = "ROLE_ADMIN"
                body["admin"] = true
                body["emailVerified"] = true
                let response = try await context.http.post("/api/auth/register", json: .object(body))
                try context.expectStatus(response, 201)
                try context.require(
                    response.json?["user"]?["roles"] == ["ROLE_USER"] && response.json?["user"]?["emailVerified"] == false,
                    expected: "roles [ROLE_USER] and emailVerified false",
                    seen: response.json?["user"]?.text ?? response.excerpt
                )
                let (token, roles) = try await context.login(username, "secret-123")
                try context.require(roles == ["ROLE_USER"], expected: "login roles [ROLE_USER]", seen: "\(roles)")
                try context.expectStatus(try await context.http.get("/api/users", token: token), 403)
            },
        ]
    }
}
