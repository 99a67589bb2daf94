import BookstoreCore
import BookstoreTesting
import ContractKit
import Foundation
import Hummingbird
import HummingbirdTesting
import JSONKit
import Testing
import UsersService

let secret = "users-test-secret-that-is-long-enough-0123"

/// The committed contract of the user service.
let usersContract: OpenAPIDocument = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    do {
        return try OpenAPIDocument(contentsOf: root.appendingPathComponent("Conformance/contracts/users.openapi.yaml").path)
    } catch {
        fatalError("users contract does not load: \(error)")
    }
}()

/// A response checked against the contract.
struct Checked {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let json: JSON
}

/// A user service in memory, with a client that validates every response against the contract.
struct UsersHarness {
    let built: BuiltService
    let bus: InProcessEventBus

    static func make(
        _ extra: [String: String] = [:],
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> UsersHarness {
        let bus = InProcessEventBus()
        try await bus.declareQueue(QueueSpec(name: "test-user-events", bindings: [.init(exchange: Exchanges.user, pattern: "user.#")]))
        return UsersHarness(
            built: try await UsersApp.build(settings: Self.settings(extra), bus: bus, onServerRunning: onServerRunning),
            bus: bus
        )
    }

    static func settings(_ extra: [String: String] = [:]) -> Settings {
        Settings(
            environment: [
                "JWT_SECRET": secret, "PORT": "0", "LOG_LEVEL": "error", "ACCESS_LOG": "false", "BCRYPT_COST": "4",
                "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-password", "MAX_BODY_BYTES": "4096",
            ].merging(extra) { $1 }
        )
    }

    /// Runs the service on a free loopback port (127.0.0.1) for `body`, so that requests have a real peer address
    /// (127.0.0.1), then stops it.
    static func withLoopbackServer(_ extra: [String: String] = [:], _ body: @escaping @Sendable (TestClient) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let harness = try await make(extra.merging(["HOST": "127.0.0.1", "PORT": "0", "LOG_LEVEL": "critical"]) { $1 }) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let server = Task { try await harness.built.application.run() }
        var port = 0
        for await value in ports { port = value }
        do {
            try await TestClient.withClient(host: "127.0.0.1", port: port, operation: body)
        } catch {
            server.cancel()
            _ = await server.result
            throw error
        }
        server.cancel()
        _ = await server.result
    }

    func run(_ body: @escaping @Sendable (UsersClient) async throws -> Void) async throws {
        try await self.built.application.test(.router) { client in try await body(UsersClient(client: client)) }
    }
}

struct UsersClient {
    let client: any TestClientProtocol

    @discardableResult
    func call(
        _ method: HTTPRequest.Method,
        _ path: String,
        json: JSON? = nil,
        raw: String? = nil,
        token: String? = nil,
        headers: HTTPFields = [:],
        unavailableIsExpected: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Checked {
        let reply = try await self.client.send(method, path, token: token, json: json, body: raw, headers: headers)
        if !(unavailableIsExpected && reply.status == .serviceUnavailable) {
            #expect(reply.code < 500, "no 5xx for \(method) \(path)", sourceLocation: sourceLocation)
        }
        let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        if usersContract.operation(method: method.rawValue, path: pathOnly) != nil {
            let violations = usersContract.validateResponse(
                method: method.rawValue,
                path: pathOnly,
                status: reply.code,
                contentType: reply.contentType,
                body: reply.bytes
            )
            #expect(violations.isEmpty, "\(method) \(path) → \(reply.code): \(violations)", sourceLocation: sourceLocation)
            let disagreement = usersContract.requestDisagreement(
                method: method.rawValue,
                target: path,
                body: reply.requestBody,
                status: reply.code
            )
            #expect(disagreement == nil, "\(disagreement ?? "")", sourceLocation: sourceLocation)
        }
        return Checked(status: reply.status, headers: reply.headers, json: reply.json)
    }

    /// Registers a user and logs in; returns (id, token).
    func registerAndLogin(_ username: String, password: String = "password1") async throws -> (id: String, token: String) {
        let registered = try await self.call(.post, "/api/auth/register", json: Self.registration(username, password: password))
        #expect(registered.status == .created)
        let login = try await self.call(.post, "/api/auth/login", json: ["usernameOrEmail": .string(username), "password": .string(password)])
        #expect(login.status == .ok)
        return (try #require(login.json["userId"]?.stringValue), try #require(login.json["token"]?.stringValue))
    }

    func adminToken() async throws -> String {
        let login = try await self.call(.post, "/api/auth/login", json: ["usernameOrEmail": "admin", "password": "admin-password"])
        return try #require(login.json["token"]?.stringValue)
    }

    static func registration(_ username: String, password: String = "password1") -> JSON {
        [
            "username": .string(username), "email": .string("\(username)@example.com"), "password": .string(password),
            "firstName": "Ada", "lastName": "Lovelace",
        ]
    }
}
