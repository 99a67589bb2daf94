import Foundation
import JSONKit

/// A user registered and logged in by the harness.
public struct TestUser: Sendable {
    public var id: String
    public var username: String
    public var email: String
    public var password: String
    public var token: String
    public var roles: [String]
}

/// Users shared by the checks of one run (registered once, logged in once: login is rate-limited per client).
actor FixtureCache {
    private var users: [String: TestUser] = [:]
    private var counter = 0

    func cached(_ label: String) -> TestUser? { self.users[label] }
    func store(_ user: TestUser, as label: String) { self.users[label] = user }

    func nextNumber() -> Int {
        self.counter += 1
        return self.counter
    }
}

extension CheckContext {
    /// A unique name for something this run creates: `cf_<run>_<label>_<n>` (letters, digits and underscores).
    public func uniqueName(_ label: String) async -> String {
        let number = await self.run.fixtureCache.nextNumber()
        return "cf_\(self.options.runID)_\(label)_\(number)"
    }

    /// A user shared by the run under `label` (`alice`, `bob`), registered and logged in on first use.
    public func user(_ label: String) async throws -> TestUser {
        if let user = await self.run.fixtureCache.cached(label) { return user }
        let user = try await self.freshUser(label)
        await self.run.fixtureCache.store(user, as: label)
        return user
    }

    /// A new user for this check alone.
    public func freshUser(_ label: String) async throws -> TestUser {
        let (username, password, registered) = try await self.registerFreshUser(label)
        let (token, roles) = try await self.login(username, password)
        return TestUser(
            id: registered["id"]?.stringValue ?? "",
            username: username,
            email: registered["email"]?.stringValue ?? "",
            password: password,
            token: token,
            roles: roles
        )
    }

    /// The registration body of a fresh user.
    public func registrationBody(_ username: String, password: String) -> JSON {
        [
            "username": .string(username),
            "email": .string("\(username.replacingOccurrences(of: "_", with: "."))@example.com"),
            "password": .string(password),
            "firstName": "Conformance",
            "lastName": "Check",
        ]
    }

    /// Registers a user through the gateway; returns its name, password and the `user` object of the answer.
    public func registerFreshUser(_ label: String) async throws -> (username: String, password: String, user: JSON) {
        let username = await self.uniqueName(label)
        let password = "pw-\(UUID().uuidString.prefix(12))"
        let response = try await self.http.post("/api/auth/register", json: self.registrationBody(username, password: password))
        guard response.status == 201, let user = response.json?["user"], user["id"]?.stringValue != nil else {
            throw CheckBlocked(fixture: "POST /api/auth/register (fixture user \(label))", seen: "answered \(response.status) \(response.excerpt)")
        }
        return (username, password, user)
    }

    /// Logs in through the gateway, waiting out a 429 (at most three times, ten seconds each).
    public func login(_ usernameOrEmail: String, _ password: String) async throws -> (token: String, roles: [String]) {
        let body: JSON = ["usernameOrEmail": .string(usernameOrEmail), "password": .string(password)]
        for attempt in 1...4 {
            let response = try await self.http.post("/api/auth/login", json: body)
            if response.status == 429, attempt < 4 {
                let wait = min(Int(response.header("Retry-After") ?? "") ?? 2, 10)
                self.note("login rate-limited; waiting \(wait) s")
                try await Task.sleep(for: .seconds(max(wait, 1)))
                continue
            }
            guard response.status == 200, let token = response.json?["token"]?.stringValue else {
                throw CheckBlocked(
                    fixture: "POST /api/auth/login (fixture login of \(usernameOrEmail))",
                    seen: "answered \(response.status) \(response.excerpt)"
                )
            }
            return (token, response.json?["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
        throw CheckBlocked(fixture: "POST /api/auth/login (fixture login of \(usernameOrEmail))", seen: "answered 429 four times")
    }

    /// The administrator, logged in once per run; skips the check when no admin credentials work.
    public func admin() async throws -> TestUser {
        if let admin = await self.run.fixtureCache.cached("#admin") { return admin }
        guard let credentials = self.endpoints.admin else {
            throw CheckSkip("no admin credentials (pass --admin-username and --admin-password)")
        }
        let body: JSON = ["usernameOrEmail": .string(credentials.username), "password": .string(credentials.password)]
        let response = try await self.http.post("/api/auth/login", json: body)
        guard response.status == 200, let json = response.json, let token = json["token"]?.stringValue else {
            throw CheckSkip(
                "the admin credentials for \(credentials.username) were refused (\(response.status)); pass --admin-username/--admin-password"
            )
        }
        let roles = json["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard roles.contains("ROLE_ADMIN") else {
            throw CheckSkip("\(credentials.username) logs in but has no ROLE_ADMIN (roles \(roles))")
        }
        let admin = TestUser(
            id: json["userId"]?.stringValue ?? "",
            username: credentials.username,
            email: json["email"]?.stringValue ?? "",
            password: credentials.password,
            token: token,
            roles: roles
        )
        await self.run.fixtureCache.store(admin, as: "#admin")
        return admin
    }
}
