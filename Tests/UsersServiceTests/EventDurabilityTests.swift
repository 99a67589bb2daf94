import BookstoreCore
import FaultInjection
import HTTPTypes
import JSONKit
import Synchronization
import Testing

@testable import UsersService

/// SPEC §6: an event that cannot be made durable fails the request with 503 and nothing is left half-done (before, the
/// failure was only logged and the client got 201 for a registration whose `user.registered` was lost).
@Suite struct EventDurabilityTests {
    static func harness(_ bus: RefusingEventBus) async throws -> UsersHarness {
        try await bus.inner.declareQueue(QueueSpec(name: "test-user-events", bindings: [.init(exchange: Exchanges.user, pattern: "user.#")]))
        return UsersHarness(built: try await UsersApp.build(settings: UsersHarness.settings(), bus: bus), bus: bus.inner)
    }

    @Test func aRegistrationWhoseEventCannotBeStoredIs503AndStoresNothing() async throws {
        let bus = RefusingEventBus()
        try await Self.harness(bus).run { client in
            bus.refusing.store(true, ordering: .relaxed)
            let refused = try await client.call(.post, "/api/auth/register", json: UsersClient.registration("alice"), unavailableIsExpected: true)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "5")
            #expect(refused.json["message"]?.stringValue?.contains("nothing was changed") == true, "\(refused.json)")
            let login = try await client.call(.post, "/api/auth/login", json: ["usernameOrEmail": "alice", "password": "password1"])
            #expect(login.status == .unauthorized, "no user was stored")
            bus.refusing.store(false, ordering: .relaxed)
            let registered = try await client.call(.post, "/api/auth/register", json: UsersClient.registration("alice"))
            #expect(registered.status == .created, "the name was not taken by the refused registration")
            #expect(bus.inner.pendingMessages(in: "test-user-events").map(\.routingKey) == ["user.registered"])
        }
    }

    @Test func aDeletionWhoseEventCannotBeStoredIs503AndTheUserStays() async throws {
        let bus = RefusingEventBus()
        try await Self.harness(bus).run { client in
            let (id, token) = try await client.registerAndLogin("bob")
            let admin = try await client.adminToken()
            bus.refusing.store(true, ordering: .relaxed)
            let refused = try await client.call(.delete, "/api/users/\(id)", token: admin, unavailableIsExpected: true)
            #expect(refused.status == .serviceUnavailable)
            bus.refusing.store(false, ordering: .relaxed)
            let me = try await client.call(.get, "/api/users/me", token: token)
            #expect(me.status == .ok, "the user is still there")
            #expect(try await client.call(.delete, "/api/users/\(id)", token: admin).status == .ok)
            #expect(bus.inner.pendingMessages(in: "test-user-events").map(\.routingKey) == ["user.registered", "user.deleted"])
        }
    }
}
