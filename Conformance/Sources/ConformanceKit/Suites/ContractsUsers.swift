import Foundation
import JSONKit

extension ContractsSuite {
    static var userChecks: [Check] {
        [
            self.check("API-USERS-REGISTER-201", "POST /api/auth/register creates a ROLE_USER account and answers 201 with the user") { context in
                let username = await context.uniqueName("reg")
                var body = context.registrationBody(username, password: "secret-123").objectValue ?? [:]
                body["phone"] = "+34 600 000 000"
                body["address"] = "Calle Mayor 1"
                let response = try await context.http.post("/api/auth/register", json: .object(body))
                try context.expectContract(response, status: 201)
                let json = try context.json(response)
                try context.require(
                    json["user"]?["username"]?.stringValue == username && json["user"]?["roles"] == ["ROLE_USER"],
                    expected: "user.username \(username) with roles [ROLE_USER]",
                    seen: json["user"]?.text ?? "no user"
                )
                try context.require(
                    json["user"]?["password"] == nil,
                    expected: "no password in the answer",
                    seen: "a password member"
                )
            },
            self.check(
                "API-USERS-REGISTER-400",
                "Invalid registrations answer 400 naming the field (short username, bad email, short password, missing field)"
            ) {
                context in
                let username = await context.uniqueName("bad")
                let valid = context.registrationBody(username, password: "secret-123").objectValue ?? [:]
                let cases: [(String, String, JSON?)] = [
                    ("username", "a 2-character username", "ab"),
                    ("email", "an invalid email", "not-an-email"),
                    ("password", "a 5-character password", "12345"),
                    ("firstName", "a missing firstName", nil),
                    ("lastName", "a blank lastName", "   "),
                    ("username", "a 51-character username", .string(String(repeating: "u", count: 51))),
                ]
                for (field, label, value) in cases {
                    var body = valid
                    body[field] = value
                    if value == nil { body[field] = nil }
                    let response = try await context.http.post("/api/auth/register", json: .object(body))
                    try context.expectContract(response, status: 400, because: label)
                    let message = response.json?["message"]?.stringValue ?? ""
                    try context.require(
                        message.lowercased().contains(field.lowercased()),
                        expected: "the 400 message for \(label) to name \(field)",
                        seen: "'\(message)'"
                    )
                }
            },
            self.check("API-USERS-REGISTER-409", "Registering a taken username or email answers 409") { context in
                let (username, _, _) = try await context.registerFreshUser("dup")
                let again = try await context.http.post("/api/auth/register", json: context.registrationBody(username, password: "secret-123"))
                try context.expectContract(again, status: 409, because: "same username")
                var sameEmail = context.registrationBody(await context.uniqueName("dup"), password: "secret-123").objectValue ?? [:]
                sameEmail["email"] = context.registrationBody(username, password: "x")["email"]
                let email = try await context.http.post("/api/auth/register", json: .object(sameEmail))
                try context.expectContract(email, status: 409, because: "same email")
            },
            self.check("API-USERS-REGISTER-MALFORMED-400", "A malformed JSON body to register answers 400, never 5xx") { context in
                let response = try await context.http.send(
                    "POST",
                    "/api/auth/register",
                    headers: [("Content-Type", "application/json")],
                    body: Array(#"{"username": "x", "#.utf8)
                )
                try context.expectContract(response, status: 400)
            },
            self.check("API-USERS-LOGIN-200", "POST /api/auth/login answers 200 with a Bearer token, by username and by email") { context in
                let (username, password, user) = try await context.registerFreshUser("login")
                let response = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": .string(username), "password": .string(password)]
                )
                try context.expectContract(response, status: 200)
                let json = try context.json(response)
                try context.require(
                    json["type"] == "Bearer" && json["userId"] == user["id"] && json["username"]?.stringValue == username,
                    expected: "type Bearer, userId \(user["id"]?.stringValue ?? "?"), username \(username)",
                    seen: json.text
                )
                let byEmail = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": user["email"] ?? "", "password": .string(password)]
                )
                try context.expectContract(byEmail, status: 200, because: "login by email")
                let me = try await context.http.get("/api/users/me", token: json["token"]?.stringValue)
                try context.expectContract(me, status: 200)
                try context.require(
                    me.json?["lastLogin"]?.stringValue != nil,
                    expected: "lastLogin set after a login",
                    seen: me.json?["lastLogin"]?.text ?? "nothing"
                )
            },
            self.check("API-USERS-LOGIN-401", "A wrong password or an unknown user answers 401") { context in
                let (username, _, _) = try await context.registerFreshUser("badpw")
                let wrong = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": .string(username), "password": "wrong-password"]
                )
                try context.expectContract(wrong, status: 401, because: "wrong password")
                let unknown = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": .string(await context.uniqueName("ghost")), "password": "whatever-1"]
                )
                try context.expectContract(unknown, status: 401, because: "unknown user")
            },
            self.check("API-USERS-LOGIN-400", "A login without usernameOrEmail or password answers 400") { context in
                let response = try await context.http.post("/api/auth/login", json: ["password": "x-123456"])
                try context.expectContract(response, status: 400)
                let empty = try await context.http.post("/api/auth/login", json: ["usernameOrEmail": "someone"])
                try context.expectContract(empty, status: 400)
            },
            self.check("API-USERS-VALIDATE-200", "POST /api/auth/validate with a valid token answers 200 {message: Token is valid}") { context in
                let alice = try await context.user("alice")
                let response = try await context.http.post("/api/auth/validate", token: alice.token)
                try context.expectContract(response, status: 200)
            },
            self.check("API-USERS-VALIDATE-401", "POST /api/auth/validate without or with a garbage token answers 401") { context in
                try context.expectContract(try await context.http.post("/api/auth/validate"), status: 401)
                try context.expectContract(try await context.http.post("/api/auth/validate", token: "not.a.token"), status: 401)
            },
            self.check("API-USERS-ME-200", "GET /api/users/me answers the caller's UserResponse") { context in
                let alice = try await context.user("alice")
                let response = try await context.http.get("/api/users/me", token: alice.token)
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["username"]?.stringValue == alice.username,
                    expected: "username \(alice.username)",
                    seen: response.json?["username"]?.text ?? "none"
                )
            },
            self.check("API-USERS-ME-401", "GET /api/users/me without a token answers 401 JSON (not 403)") { context in
                try context.expectContract(try await context.http.get("/api/users/me"), status: 401)
            },
            self.check("API-USERS-GET-200", "GET /api/users/{id} answers another user's UserResponse to any user") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let response = try await context.http.get("/api/users/\(bob.id)", token: alice.token)
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["id"]?.stringValue == bob.id,
                    expected: "id \(bob.id)",
                    seen: response.json?["id"]?.text ?? "none"
                )
            },
            self.check("API-USERS-GET-404", "GET /api/users/{id} of an unknown id (UUID or not) answers 404") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.get("/api/users/\(self.unknownID)", token: alice.token), status: 404)
                try context.expectContract(try await context.http.get("/api/users/not-a-uuid", token: alice.token), status: 404)
            },
            self.check("API-USERS-LIST-200", "GET /api/users as admin answers a page of users honouring size") { context in
                let admin = try await context.admin()
                // At least three accounts besides the admin, so a page of size 2 must be full and must not hold them all.
                for label in ["list1", "list2", "list3"] { _ = try await context.user(label) }
                let response = try await context.http.get("/api/users?page=0&size=2", token: admin.token)
                try context.expectContract(response, status: 200)
                let count = response.json?.arrayValue?.count ?? -1
                try context.require(count == 2, expected: "exactly 2 users with size=2 (at least 4 exist)", seen: "\(count)")
            },
            self.check("API-USERS-LIST-400", "GET /api/users with an invalid page or size answers 400") { context in
                let admin = try await context.admin()
                try context.expectContract(try await context.http.get("/api/users?size=0", token: admin.token), status: 400)
                try context.expectContract(try await context.http.get("/api/users?page=abc", token: admin.token), status: 400)
            },
            self.check("API-USERS-LIST-403", "GET /api/users as a plain user answers 403") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.get("/api/users", token: alice.token), status: 403)
            },
            self.check("API-USERS-UPDATE-200", "PUT /api/users/{id} by the user changes only firstName, lastName, phone and address") { context in
                let user = try await context.freshUser("upd")
                let body: JSON = [
                    "firstName": "Ada", "lastName": "Lovelace", "phone": "+44 20 0000 0000", "address": "12 St James's Square",
                    "username": "hijack", "email": "hijack@example.com", "roles": ["ROLE_ADMIN"], "active": false,
                ]
                let response = try await context.http.put("/api/users/\(user.id)", json: body, token: user.token)
                try context.expectContract(response, status: 200)
                let json = try context.json(response)
                try context.require(
                    json["firstName"] == "Ada" && json["lastName"] == "Lovelace" && json["address"] == "12 St James's Square",
                    expected: "firstName Ada, lastName Lovelace and the new address",
                    seen: json.text
                )
                try context.require(
                    json["username"]?.stringValue == user.username && json["roles"] == ["ROLE_USER"] && json["active"] == true,
                    expected: "username, roles and active unchanged",
                    seen: json.text
                )
            },
            self.check("API-USERS-UPDATE-400", "PUT /api/users/{id} with a blank firstName or a wrong type answers 400") { context in
                let user = try await context.freshUser("upd400")
                try context.expectContract(
                    try await context.http.put("/api/users/\(user.id)", json: ["firstName": "  "], token: user.token),
                    status: 400
                )
                try context.expectContract(
                    try await context.http.put("/api/users/\(user.id)", json: ["lastName": 42], token: user.token),
                    status: 400
                )
            },
            self.check("API-USERS-UPDATE-403", "PUT /api/users/{id} of another user answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let response = try await context.http.put("/api/users/\(bob.id)", json: ["firstName": "Mallory"], token: alice.token)
                try context.expectContract(response, status: 403)
            },
            self.check("API-USERS-UPDATE-404", "PUT /api/users/{id} of an unknown user by an admin answers 404") { context in
                let admin = try await context.admin()
                let response = try await context.http.put("/api/users/\(self.unknownID)", json: ["firstName": "Nobody"], token: admin.token)
                try context.expectContract(response, status: 404)
            },
            self.check(
                "API-USERS-DEACTIVATE-200",
                "POST /api/users/{id}/deactivate by an admin deactivates; the user can no longer log in; activate restores"
            ) {
                context in
                let admin = try await context.admin()
                let (username, password, user) = try await context.registerFreshUser("inactive")
                let id = user["id"]?.stringValue ?? ""
                let deactivated = try await context.http.post("/api/users/\(id)/deactivate", token: admin.token)
                try context.expectContract(deactivated, status: 200)
                try context.require(deactivated.json?["active"] == false, expected: "active false", seen: deactivated.json?["active"]?.text ?? "none")
                let login = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": .string(username), "password": .string(password)]
                )
                try context.expectContract(login, status: 401, because: "an inactive user cannot log in")
                let activated = try await context.http.post("/api/users/\(id)/activate", token: admin.token)
                try context.expectContract(activated, status: 200)
                try context.require(activated.json?["active"] == true, expected: "active true", seen: activated.json?["active"]?.text ?? "none")
                let again = try await context.http.post(
                    "/api/auth/login",
                    json: ["usernameOrEmail": .string(username), "password": .string(password)]
                )
                try context.expectContract(again, status: 200, because: "an activated user logs in")
            },
            self.check("API-USERS-ACTIVATE-403", "Activate and deactivate by a plain user answer 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                try context.expectContract(try await context.http.post("/api/users/\(bob.id)/deactivate", token: alice.token), status: 403)
                try context.expectContract(try await context.http.post("/api/users/\(bob.id)/activate", token: alice.token), status: 403)
            },
            self.check("API-USERS-ACTIVATE-404", "Activate and deactivate of an unknown user answer 404") { context in
                let admin = try await context.admin()
                try context.expectContract(try await context.http.post("/api/users/\(self.unknownID)/activate", token: admin.token), status: 404)
                try context.expectContract(try await context.http.post("/api/users/\(self.unknownID)/deactivate", token: admin.token), status: 404)
            },
            self.check("API-USERS-DELETE-200", "DELETE /api/users/{id} by an admin answers 200; the user is then 404") { context in
                let admin = try await context.admin()
                let (_, _, user) = try await context.registerFreshUser("del")
                let id = user["id"]?.stringValue ?? ""
                try context.expectContract(try await context.http.delete("/api/users/\(id)", token: admin.token), status: 200)
                try context.expectContract(try await context.http.get("/api/users/\(id)", token: admin.token), status: 404)
            },
            self.check("API-USERS-DELETE-403", "DELETE /api/users/{id} by a plain user (even of themself) answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                try context.expectContract(try await context.http.delete("/api/users/\(bob.id)", token: alice.token), status: 403)
                try context.expectContract(try await context.http.delete("/api/users/\(alice.id)", token: alice.token), status: 403)
            },
            self.check("API-USERS-DELETE-404", "DELETE /api/users/{id} of an unknown user by an admin answers 404") { context in
                let admin = try await context.admin()
                try context.expectContract(try await context.http.delete("/api/users/\(self.unknownID)", token: admin.token), status: 404)
            },
            self.check("API-USERS-HEALTH", "GET /api/users/health, /health/live and /health/ready answer the service's health documents") { context in
                let health = try await context.http.get("/api/users/health")
                try context.expectContract(health, status: 200)
                try context.require(
                    health.json?["service"] == "user-service" && health.json?["status"] == "healthy",
                    expected: "{status: healthy, service: user-service}",
                    seen: health.excerpt
                )
                try context.expectContract(try await context.http.get("/api/users/health/live"), status: 200)
                try context.expectContract(try await context.http.get("/api/users/health/ready"), status: 200)
            },
        ]
    }
}
