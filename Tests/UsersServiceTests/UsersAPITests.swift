import BookstoreCore
import BookstoreTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import JSONKit
import Testing
import UsersService

@Suite struct AuthenticationTests {
    @Test func registerLoginValidateAndMe() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            var registration = UsersClient.registration("alice")
            registration = .object(
                {
                    var object = registration.objectValue!
                    object["phone"] = "+34 600 000 000"
                    return object
                }()
            )
            let registered = try await client.call(.post, "/api/auth/register", json: registration)
            #expect(registered.status == .created)
            #expect(registered.json["message"] == "User registered successfully!")
            #expect(registered.json["user"]?["username"] == "alice")
            #expect(registered.json["user"]?["roles"] == ["ROLE_USER"])
            #expect(registered.json["user"]?["lastLogin"] == .null)
            #expect(registered.json["user"]?["passwordHash"] == nil)

            let login = try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "ALICE@example.com", "password": "password1"])
            #expect(login.status == .ok)
            #expect(login.json["type"] == "Bearer")
            let token = try #require(login.json["token"]?.stringValue)

            let valid = try await client.call(.post, "/api/auth/validate", token: token)
            #expect(valid.status == .ok)
            #expect(valid.json == ["message": "Token is valid", "success": true])

            let me = try await client.call(.get, "/api/users/me", token: token)
            #expect(me.json["username"] == "alice")
            #expect(me.json["phone"] == "+34 600 000 000")
            #expect(me.json["lastLogin"]?.stringValue.flatMap(Timestamp.parse) != nil, "login records lastLogin")
        }
    }

    @Test func duplicatesAreConflicts() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            _ = try await client.registerAndLogin("bob")
            let sameName = try await client.call(.post, "/api/auth/register", json: UsersClient.registration("bob"))
            #expect(sameName.status == .conflict)
            #expect(sameName.json["success"] == false)
            var other = UsersClient.registration("bobby").objectValue!
            other["email"] = "BOB@example.com"
            let sameEmail = try await client.call(.post, "/api/auth/register", json: .object(other))
            #expect(sameEmail.status == .conflict)
        }
    }

    @Test(arguments: [
        ("username", JSON.string("ab"), "username"), ("username", .string(String(repeating: "u", count: 51)), "username"),
        ("username", .number("5"), "username"), ("username", .null, "username"), ("username", .string("   "), "username"),
        ("email", .string("not-an-email"), "email"), ("email", .string(String(repeating: "e", count: 95) + "@x.com"), "email"),
        ("password", .string("12345"), "password"), ("password", .string(String(repeating: "p", count: 101)), "password"),
        ("password", .bool(true), "password"), ("firstName", .string(""), "firstName"),
        ("lastName", .string(String(repeating: "l", count: 101)), "lastName"), ("phone", .array([]), "phone"),
        ("username", .string("nul\u{0}name"), "username"), ("password", .string("pass\u{0}word"), "password"), ("phone", .string(" "), "phone"),
    ])
    func registrationValidationNamesTheField(_ field: String, _ value: JSON, _ named: String) async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            var body = UsersClient.registration("carol").objectValue!
            body[field] = value
            let response = try await client.call(.post, "/api/auth/register", json: .object(body))
            #expect(response.status == .badRequest)
            #expect(response.json["message"]?.stringValue?.contains(named) == true)
            let login = try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "carol", "password": "password1"])
            #expect(login.status == .unauthorized, "nothing was stored")
        }
    }

    @Test func boundaryLengthsAreAccepted() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            var body = UsersClient.registration(String(repeating: "u", count: 50), password: String(repeating: "p", count: 100)).objectValue!
            body["firstName"] = .string(String(repeating: "f", count: 100))
            let longest = try await client.call(.post, "/api/auth/register", json: .object(body))
            #expect(longest.status == .created)
            let short = UsersClient.registration("abc", password: "123456")
            let shortest = try await client.call(.post, "/api/auth/register", json: short)
            #expect(shortest.status == .created)
        }
    }

    @Test(arguments: ["", "{", "[]", "\"text\"", "null", "{\"username\": }", "\u{FF}"])
    func malformedBodiesAre400(_ raw: String) async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let response = try await client.call(.post, "/api/auth/register", raw: raw)
            #expect(response.status == .badRequest)
            #expect(response.json["success"] == false)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            var body = UsersClient.registration("dave").objectValue!
            body["address"] = .string(String(repeating: "a", count: 5000))
            let response = try await client.call(.post, "/api/auth/register", json: .object(body))
            #expect(response.status == .contentTooLarge)
        }
    }

    @Test func badCredentialsAndInactiveUsersAre401() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let (id, _) = try await client.registerAndLogin("erin")
            #expect(
                try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "erin", "password": "wrong-pass"]).status == .unauthorized
            )
            #expect(
                try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "nobody", "password": "password1"]).status == .unauthorized
            )
            #expect(try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "erin"]).status == .badRequest)
            let admin = try await client.adminToken()
            let deactivated = try await client.call(.post, "/api/users/\(id)/deactivate", token: admin)
            #expect(deactivated.json["active"] == false)
            #expect(
                try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "erin", "password": "password1"]).status == .unauthorized
            )
            let activated = try await client.call(.post, "/api/users/\(id)/activate", token: admin)
            #expect(activated.json["active"] == true)
            #expect(try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "erin", "password": "password1"]).status == .ok)
        }
    }

    @Test func loginIsRateLimitedPerClient() async throws {
        let harness = try await UsersHarness.make(["LOGIN_RATE_LIMIT_BURST": "3", "LOGIN_RATE_LIMIT_PER_MINUTE": "1"])
        try await harness.run { client in
            let attempt: JSON = ["usernameOrEmail": "x", "password": "password1"]
            for _ in 0..<3 { #expect(try await client.call(.post, "/api/auth/login", json: attempt).status == .unauthorized) }
            let limited = try await client.call(.post, "/api/auth/login", json: attempt)
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }

    @Test func loginLimitBelievesForwardedForOnlyFromATrustedProxy() async throws {
        let limits = ["LOGIN_RATE_LIMIT_BURST": "2", "LOGIN_RATE_LIMIT_PER_MINUTE": "1"]
        @Sendable func login(_ client: TestClient, forwardedFor: String?) async throws -> HTTPResponse.Status {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let forwardedFor { headers[.forwardedFor] = forwardedFor }
            let body = ByteBuffer(bytes: (["usernameOrEmail": "x", "password": "password1"] as JSON).bytes)
            return try await client.post("/api/auth/login", headers: headers, body: body).status
        }
        // Straight from a client (the peer, 127.0.0.1, is not a trusted proxy): X-Forwarded-For is its own claim.
        try await UsersHarness.withLoopbackServer(limits) { client in
            let statuses = [
                try await login(client, forwardedFor: "10.9.9.1"), try await login(client, forwardedFor: "10.9.9.2"),
                try await login(client, forwardedFor: "10.9.9.3"),
            ]
            #expect(statuses == [.unauthorized, .unauthorized, .tooManyRequests], "a new X-Forwarded-For is not a new client")
        }
        // Behind a trusted proxy (the gateway on 127.0.0.1): the rightmost hop it did not add itself is the client.
        try await UsersHarness.withLoopbackServer(limits.merging(["TRUSTED_PROXIES": "127.0.0.1"]) { $1 }) { client in
            let sameClient = [
                try await login(client, forwardedFor: "203.0.113.5"), try await login(client, forwardedFor: "192.0.2.1, 203.0.113.5"),
                try await login(client, forwardedFor: "198.51.100.1, 203.0.113.5"),
            ]
            #expect(sameClient == [.unauthorized, .unauthorized, .tooManyRequests], "hops left of the client's are its own claims")
            let other = try await login(client, forwardedFor: "203.0.113.6")
            #expect(other == .unauthorized, "another client has its own bucket")
            let proxy = try await login(client, forwardedFor: nil)
            #expect(proxy == .unauthorized, "and so has the proxy itself")
        }
    }
}

@Suite struct TokenAttackTests {
    func forge(_ identity: Identity, secret: String, algorithm: TokenSettings.Algorithm = .hs512, issuedAt: Date = Date()) -> String {
        TestTokens(secret: secret, algorithm: algorithm).token(for: identity, now: issuedAt)
    }

    @Test func protectedRoutesRejectMissingForgedExpiredAndNoneTokens() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let (id, token) = try await client.registerAndLogin("frank")
            let identity = Identity(userID: id, username: "frank", email: "frank@example.com", roles: ["ROLE_USER", "ROLE_ADMIN"])
            let forged = self.forge(identity, secret: "an-attacker-secret-that-is-long-enough-00")
            let expired = self.forge(identity, secret: secret, issuedAt: Date().addingTimeInterval(-48 * 3600))
            let otherAlgorithm = self.forge(identity, secret: secret, algorithm: .hs256)
            let parts = token.split(separator: ".")
            let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.\(parts[1])."
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/api/users/me"), (.get, "/api/users"), (.get, "/api/users/\(id)"), (.put, "/api/users/\(id)"),
                (.delete, "/api/users/\(id)"), (.post, "/api/users/\(id)/activate"), (.post, "/api/users/\(id)/deactivate"),
                (.post, "/api/auth/validate"),
            ]
            for (method, path) in routes {
                for bad in [nil, "garbage", forged, expired, otherAlgorithm, none] as [String?] {
                    let response = try await client.call(method, path, json: method == .put ? ["firstName": "X"] : nil, token: bad)
                    #expect(response.status == .unauthorized, "\(method) \(path) with \(bad ?? "no token")")
                    #expect(response.json["success"] == false)
                }
            }
        }
    }
}

@Suite struct UserAdministrationTests {
    @Test func authorizationMatrix() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let (aliceID, alice) = try await client.registerAndLogin("alice")
            let (bobID, bob) = try await client.registerAndLogin("bob")
            let admin = try await client.adminToken()

            #expect(try await client.call(.get, "/api/users/\(bobID)", token: alice).status == .ok)
            #expect(try await client.call(.get, "/api/users", token: alice).status == .forbidden)
            let listed = try await client.call(.get, "/api/users?page=0&size=2", token: admin)
            #expect(listed.json.arrayValue?.count == 2)
            let secondPage = try await client.call(.get, "/api/users?page=1&size=2", token: admin)
            #expect(secondPage.json.arrayValue?.count == 1)
            #expect(try await client.call(.get, "/api/users?size=0", token: admin).status == .badRequest)
            #expect(try await client.call(.get, "/api/users?page=-1", token: admin).status == .badRequest)

            let ownUpdate = try await client.call(
                .put,
                "/api/users/\(aliceID)",
                json: ["firstName": "Alicia", "email": "evil@x.com", "roles": ["ROLE_ADMIN"]],
                token: alice
            )
            #expect(ownUpdate.status == .ok)
            #expect(ownUpdate.json["firstName"] == "Alicia")
            #expect(ownUpdate.json["email"] == "alice@example.com", "only profile fields change")
            #expect(ownUpdate.json["roles"] == ["ROLE_USER"])
            #expect(try await client.call(.put, "/api/users/\(bobID)", json: ["firstName": "Hacked"], token: alice).status == .forbidden)
            #expect(try await client.call(.put, "/api/users/\(bobID)", json: ["lastName": "Byadmin"], token: admin).status == .ok)
            #expect(try await client.call(.put, "/api/users/\(aliceID)", json: ["firstName": 42], token: alice).status == .badRequest)
            #expect(try await client.call(.put, "/api/users/\(aliceID)", json: ["firstName": "  "], token: alice).status == .badRequest)
            #expect(try await client.call(.put, "/api/users/\(aliceID)", json: ["address": "a\u{0}b"], token: alice).status == .badRequest)
            #expect(
                try await client.call(.put, "/api/users/\(aliceID)", json: ["phone": .string(String(repeating: "1", count: 21))], token: alice).status
                    == .badRequest
            )

            #expect(try await client.call(.delete, "/api/users/\(bobID)", token: alice).status == .forbidden)
            #expect(try await client.call(.post, "/api/users/\(bobID)/deactivate", token: alice).status == .forbidden)
            let deleted = try await client.call(.delete, "/api/users/\(bobID)", token: admin)
            #expect(deleted.json == ["message": "User deleted successfully", "success": true])
            #expect(try await client.call(.get, "/api/users/\(bobID)", token: alice).status == .notFound)
            #expect(try await client.call(.get, "/api/users/me", token: bob).status == .unauthorized, "a deleted user's token stops working")
            // The caller is checked before the user asked for: 401, never a 200 or a 404, for a deleted caller.
            #expect(try await client.call(.get, "/api/users/\(aliceID)", token: bob).status == .unauthorized)
            #expect(try await client.call(.get, "/api/users/\(bobID)", token: bob).status == .unauthorized)
            #expect(try await client.call(.get, "/api/users/not-a-uuid", token: bob).status == .unauthorized)
            #expect(try await client.call(.delete, "/api/users/\(bobID)", token: admin).status == .notFound)
            #expect(try await client.call(.get, "/api/users/not-a-uuid", token: alice).status == .notFound)
            #expect(try await client.call(.put, "/api/users/\(UUID())", json: ["firstName": "X"], token: admin).status == .notFound)
        }
    }

    @Test func deletionAndRegistrationPublishUserEvents() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let (id, _) = try await client.registerAndLogin("gina")
            let admin = try await client.adminToken()
            _ = try await client.call(.delete, "/api/users/\(id)", token: admin, headers: [.requestID: "req-delete-1"])
        }
        let messages = harness.bus.pendingMessages(in: "test-user-events")
        #expect(messages.map(\.routingKey) == ["user.registered", "user.deleted"])
        let deleted = try #require(messages.last)
        let payload = try JSON.parse(deleted.body)
        #expect(payload["event_type"] == "user.deleted")
        #expect(payload["username"] == "gina")
        #expect(deleted.headers["X-Request-ID"] == "req-delete-1")
        #expect(deleted.headers["traceparent"]?.hasPrefix("00-") == true)
        #expect(deleted.exchange == Exchanges.user)
    }

    @Test func healthMetricsAndUnknownRoutes() async throws {
        let harness = try await UsersHarness.make()
        try await harness.run { client in
            let health = try await client.call(.get, "/api/health")
            #expect(health.json["status"] == "healthy")
            #expect(health.json["service"] == "user-service")
            #expect(try await client.call(.get, "/api/health/live").json == ["status": "UP"])
            #expect(try await client.call(.get, "/api/health/ready").json["status"] == "READY")
            let unknown = try await client.call(.get, "/api/nothing-here")
            #expect(unknown.status == .notFound)
            #expect(unknown.json["success"] == false)
            _ = try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "x", "password": "password1"])
            let metrics = try await client.client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains(#"http_requests_total{service="user-service",method="POST",route="/api/auth/login",status="401"} 1"#))
            #expect(metrics.contains(#"route="/api/health/live""#))
        }
    }

    @Test func adminBootstrapRejectsShortPasswords() async throws {
        await #expect(throws: ConfigurationError.self) { _ = try await UsersHarness.make(["ADMIN_PASSWORD": "123"]) }
    }
}
