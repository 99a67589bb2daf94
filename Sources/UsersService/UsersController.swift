import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit
import Logging

/// The routes of the user service (SPEC §4.1).
struct UsersController: Sendable {
    let repository: any UserRepository
    let hasher: PasswordHasher
    let tokens: TokenService
    let events: EventPublisher
    let loginLimiter: RateLimiter
    /// Whose `X-Forwarded-For` names the client for the login limit (`TRUSTED_PROXIES`).
    let trustedProxies: TrustedProxies
    let maxBodyBytes: Int

    func addRoutes(to router: ServiceRouter) {
        router.post("/api/auth/register") { request, context in try await self.register(request, context) }
        router.post("/api/auth/login") { request, context in try await self.login(request, context) }
        router.post("/api/auth/validate") { request, _ in
            _ = try await self.tokens.authenticate(request)
            return Response.json(["message": "Token is valid", "success": true])
        }
        router.get("/api/users/me") { request, _ in
            let caller = try await self.caller(request)
            return Response.json(caller.response)
        }
        router.get("/api/users") { request, _ in
            _ = try await self.admin(request)
            let page = try PageRequest.parse(request.uri, limitKey: "size", firstPage: 0)
            let users = try await self.repository.list(offset: page.offset(firstPage: 0), limit: page.limit)
            return Response.json(.array(users.map(\.response)))
        }
        router.get("/api/users/:id") { request, context in
            Response.json(try await self.callerAndUser(request, context).user.response)
        }
        router.put("/api/users/:id") { request, context in try await self.update(request, context) }
        router.delete("/api/users/:id") { request, context in try await self.delete(request, context) }
        router.post("/api/users/:id/activate") { request, context in try await self.setActive(true, request, context) }
        router.post("/api/users/:id/deactivate") { request, context in try await self.setActive(false, request, context) }
    }

    // MARK: Authentication

    func register(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        var fields = FieldReader(try await request.jsonObject(limit: self.maxBodyBytes))
        let username = fields.string("username", length: 3...50)
        let email = fields.string("email", length: 3...100, pattern: Patterns.email)
        let password = Self.password(&fields, "password")
        let firstName = fields.string("firstName", length: 1...100)
        let lastName = fields.string("lastName", length: 1...100)
        let phone = fields.string("phone", required: false, length: 1...20)
        let address = fields.string("address", required: false, length: 1...255)
        try fields.validate()
        guard let username, let email, let password, let firstName, let lastName else { throw APIError.badRequest("Invalid request") }

        let user = User(
            username: username,
            email: email,
            passwordHash: try await self.hasher.hash(password),
            firstName: firstName,
            lastName: lastName,
            phone: phone,
            address: address
        )
        do {
            try await self.repository.create(user)
        } catch UserRepositoryError.duplicateUsername {
            throw APIError.conflict("Username is already taken")
        } catch UserRepositoryError.duplicateEmail {
            throw APIError.conflict("Email is already in use")
        }
        try await self.events.publishOrUndo(
            exchange: Exchanges.user,
            routingKey: "user.registered",
            payload: Self.event("user.registered", user),
            requestID: context.requestID
        ) { _ = try await self.repository.delete(id: user.id) }
        context.logger.info("User registered", metadata: ["user.id": .string(user.identity.userID)])
        return Response.json(
            ["message": "User registered successfully!", "success": true, "user": user.response],
            status: .created
        )
    }

    func login(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        if let wait = self.loginLimiter.acquire(context.clientAddress(request, trusting: self.trustedProxies)) {
            throw APIError.tooManyRequests(retryAfterSeconds: wait)
        }
        var fields = FieldReader(try await request.jsonObject(limit: self.maxBodyBytes))
        let login = fields.string("usernameOrEmail", length: 1...100)
        let password = Self.password(&fields, "password", checkLength: false)
        try fields.validate()
        guard let login, let password else { throw APIError.badRequest("Invalid request") }

        guard var user = try await self.repository.find(usernameOrEmail: login),
            try await self.hasher.verify(password, hash: user.passwordHash)
        else {
            throw APIError.unauthorized("Invalid username/email or password")
        }
        guard user.active else { throw APIError.unauthorized("User account is deactivated") }
        user.lastLogin = Date()
        _ = try await self.repository.update(user)
        let token = self.tokens.issue(for: user.identity)
        return Response.json([
            "token": .string(token),
            "type": "Bearer",
            "userId": .string(user.identity.userID),
            "username": .string(user.username),
            "email": .string(user.email),
            "roles": .array(user.roles.map(JSON.string)),
        ])
    }

    // MARK: Users

    func update(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let caller = try await self.caller(request)
        var user = try await self.user(context)
        guard caller.identity.mayActFor(user.identity.userID) else { throw APIError.forbidden("You can only update your own profile") }
        var fields = FieldReader(try await request.jsonObject(limit: self.maxBodyBytes))
        let firstName = fields.string("firstName", required: false, length: 1...100)
        let lastName = fields.string("lastName", required: false, length: 1...100)
        let phone = fields.string("phone", required: false, length: 1...20)
        let address = fields.string("address", required: false, length: 1...255)
        try fields.validate()
        if let firstName { user.firstName = firstName }
        if let lastName { user.lastName = lastName }
        if let phone { user.phone = phone }
        if let address { user.address = address }
        user.updatedAt = Date()
        guard try await self.repository.update(user) else { throw APIError.notFound("User not found") }
        return Response.json(user.response)
    }

    func delete(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        _ = try await self.admin(request)
        let user = try await self.user(context)
        guard try await self.repository.delete(id: user.id) else { throw APIError.notFound("User not found") }
        try await self.events.publishOrUndo(
            exchange: Exchanges.user,
            routingKey: "user.deleted",
            payload: Self.event("user.deleted", user),
            requestID: context.requestID
        ) { try await self.repository.create(user) }
        context.logger.info("User deleted", metadata: ["user.id": .string(user.identity.userID)])
        return Response.json(["message": "User deleted successfully", "success": true])
    }

    func setActive(_ active: Bool, _ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        _ = try await self.admin(request)
        var user = try await self.user(context)
        user.active = active
        user.updatedAt = Date()
        guard try await self.repository.update(user) else { throw APIError.notFound("User not found") }
        return Response.json(user.response)
    }

    // MARK: Helpers

    /// The calling user: a valid token whose user still exists and is active.
    func caller(_ request: Request) async throws -> User {
        let identity = try await self.tokens.authenticate(request)
        guard let id = UUID(parsing: identity.userID), let user = try await self.repository.find(id: id), user.active else {
            throw Self.callerGone
        }
        return user
    }

    /// The calling user (as ``caller(_:)``) and the user named by the `:id` path parameter (as ``user(_:)``), read
    /// in one repository operation; the caller's checks come first, so an unknown caller gets 401 before any 404.
    func callerAndUser(_ request: Request, _ context: BookstoreRequestContext) async throws -> (caller: User, user: User) {
        let identity = try await self.tokens.authenticate(request)
        guard let callerID = UUID(parsing: identity.userID) else { throw Self.callerGone }
        let id = context.parameters.get("id").flatMap(UUID.init(parsing:))
        let found = try await self.repository.find(ids: [callerID] + (id.map { [$0] } ?? []))
        guard let caller = found[0], caller.active else { throw Self.callerGone }
        guard id != nil, let user = found[1] else { throw Self.userNotFound }
        return (caller, user)
    }

    static let callerGone = APIError.unauthorized("User no longer exists or is deactivated")
    static let userNotFound = APIError.notFound("User not found")

    func admin(_ request: Request) async throws -> User {
        let caller = try await self.caller(request)
        guard caller.identity.isAdmin else { throw APIError.forbidden("Admin role required") }
        return caller
    }

    /// The user named by the `:id` path parameter (404 when unknown or not a UUID).
    func user(_ context: BookstoreRequestContext) async throws -> User {
        guard let raw = context.parameters.get("id"), let id = UUID(parsing: raw), let user = try await self.repository.find(id: id) else {
            throw Self.userNotFound
        }
        return user
    }

    static func password(_ fields: inout FieldReader, _ key: String, checkLength: Bool = true) -> String? {
        guard let value = fields.value(key) else { return nil }
        guard case .string(let password) = value else {
            fields.fail(key, "\(key) must be a string")
            return nil
        }
        if checkLength, !(6...100).contains(password.unicodeScalars.count) {
            fields.fail(key, "\(key) must be between 6 and 100 characters")
            return nil
        }
        if password.isEmpty {
            fields.fail(key, "\(key) must not be blank")
            return nil
        }
        if password.unicodeScalars.contains("\u{0}") {
            fields.fail(key, "\(key) must not contain NUL characters")
            return nil
        }
        return password
    }

    static func event(_ type: String, _ user: User) -> JSON {
        [
            "event_type": .string(type),
            "service": "user-service",
            "timestamp": .string(Timestamp.iso8601(Date())),
            "user_id": .string(user.identity.userID),
            "username": .string(user.username),
            "email": .string(user.email),
        ]
    }
}
