import BookstoreCore
import BookstorePostgres
import Foundation
import Logging
import Testing
import UsersService

@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's PostgreSQL"))
struct PostgresUserRepositoryTests {
    /// A repository on a fresh database (created by the store itself, as on a new cluster).
    func withRepository(
        logger: Logger = IntegrationEnvironment.logger,
        _ body: (PostgresUserRepository, PostgresStore) async throws -> Void
    ) async throws {
        let database = IntegrationEnvironment.uniqueName("userdb_test")
        let settings = try PostgresSettings(settings: IntegrationEnvironment.settings.with(["POSTGRES_DB": database]), defaultDatabase: database)
        let store = PostgresStore(settings: settings, migrations: PostgresUserRepository.migrations, logger: logger)
        let repository = PostgresUserRepository(store: store, logger: IntegrationEnvironment.logger)
        try await withRunningServices([store]) {
            let deadline = ContinuousClock.now + .seconds(20)
            while !(await store.isHealthy()), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(await store.isHealthy(), "database created and migrated")
            try await body(repository, store)
        }
    }

    func user(_ name: String, roles: [String] = [Identity.userRole]) -> User {
        User(username: name, email: "\(name)@example.com", passwordHash: "$2b$04$hash", firstName: "F", lastName: "L", phone: nil, roles: roles)
    }

    @Test func everyOperationRoundTrips() async throws {
        try await self.withRepository { repository, _ in
            var alice = self.user("Alice", roles: [Identity.userRole, Identity.adminRole])
            alice.phone = "+1 555"
            try await repository.create(alice)
            let found = try #require(try await repository.find(id: alice.id))
            #expect(found.username == "Alice")
            #expect(found.phone == "+1 555")
            #expect(Set(found.roles) == [Identity.userRole, Identity.adminRole])
            #expect(abs(found.createdAt.timeIntervalSince(alice.createdAt)) < 0.001)
            #expect(try await repository.find(usernameOrEmail: "alice")?.id == alice.id)
            #expect(try await repository.find(usernameOrEmail: "ALICE@example.com")?.id == alice.id)
            #expect(try await repository.find(usernameOrEmail: "nobody") == nil)
            let ghost = UUID()
            let pair = try await repository.find(ids: [ghost, alice.id, alice.id])
            #expect(pair.map(\.?.id) == [nil, alice.id, alice.id], "in the order asked, nil where there is none")
            #expect(pair[1]?.roles.sorted() == found.roles.sorted())
            let bob = self.user("Bob")
            try await repository.create(bob)
            let three = try await repository.find(ids: [bob.id, ghost, alice.id])
            #expect(three.map(\.?.username) == ["Bob", nil, "Alice"], "one statement, rows put back in the order asked")
            #expect(try await repository.find(ids: []).isEmpty)
            #expect(try await repository.delete(id: bob.id))

            var changed = found
            changed.firstName = "Alicia"
            changed.active = false
            changed.lastLogin = Date()
            changed.roles = [Identity.userRole]
            #expect(try await repository.update(changed))
            let reloaded = try #require(try await repository.find(id: alice.id))
            #expect(reloaded.firstName == "Alicia")
            #expect(!reloaded.active)
            #expect(reloaded.roles == [Identity.userRole])
            #expect(reloaded.lastLogin != nil)
            #expect(try await repository.update(self.user("ghost")) == false)

            for index in 0..<5 { try await repository.create(self.user("user\(index)")) }
            let page = try await repository.list(offset: 2, limit: 2)
            #expect(page.map(\.username) == ["user1", "user2"])
            #expect(try await repository.delete(id: alice.id))
            #expect(try await repository.find(id: alice.id) == nil)
            #expect(try await repository.delete(id: alice.id) == false)
        }
    }

    @Test func usernameAndEmailAreUniqueCaseInsensitively() async throws {
        try await self.withRepository { repository, _ in
            try await repository.create(self.user("bob"))
            await #expect(throws: UserRepositoryError.duplicateUsername) { try await repository.create(self.user("BOB")) }
            var sameEmail = self.user("robert")
            sameEmail.email = "Bob@Example.com"
            await #expect(throws: UserRepositoryError.duplicateEmail) { try await repository.create(sameEmail) }
            // Parallel registrations of one name: exactly one wins.
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        var candidate = self.user("carol")
                        candidate.email = "carol\(index)@example.com"
                        do {
                            try await repository.create(candidate)
                            return true
                        } catch UserRepositoryError.duplicateUsername {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }

    /// Start-up leases a connection only once the pool runs: postgres-nio warns "Trying to lease connection from
    /// `PostgresClient`, but `PostgresClient.run()` hasn't been called yet" when a query is issued before.
    @Test func startUpQueriesWaitForTheirPoolToRun() async throws {
        let sink = LogSink.capturing()
        let logger = Logger(label: "store-start") { JSONLogHandler(label: $0, level: .debug, sink: sink) }
        try await self.withRepository(logger: logger) { _, _ in }
        #expect(sink.capturedLines.contains { $0.contains("Database ready") })
        #expect(!sink.capturedLines.contains { $0.contains("run()` hasn't been called yet") }, "\(sink.capturedLines)")
    }

    @Test func migrationsAreIdempotentAcrossRestarts() async throws {
        try await self.withRepository { repository, store in
            try await repository.create(self.user("dave"))
            let again = PostgresStore(settings: store.settings, migrations: PostgresUserRepository.migrations, logger: IntegrationEnvironment.logger)
            try await withRunningServices([again]) {
                let deadline = ContinuousClock.now + .seconds(10)
                while !(await again.isHealthy()), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                #expect(await again.isHealthy())
                #expect(try await PostgresUserRepository(store: again, logger: IntegrationEnvironment.logger).find(usernameOrEmail: "dave") != nil)
            }
        }
    }

    @Test func anUnreachableDatabaseIsADependencyErrorNotACrash() async throws {
        let settings = try PostgresSettings(
            settings: IntegrationEnvironment.settings.with(["POSTGRES_PORT": "9", "POSTGRES_DB": "nowhere"]),
            defaultDatabase: "nowhere"
        )
        let store = PostgresStore(settings: settings, migrations: [], logger: IntegrationEnvironment.logger)
        let repository = PostgresUserRepository(store: store, logger: IntegrationEnvironment.logger)
        try await withRunningServices([store]) {
            #expect(await store.isHealthy() == false)
            await #expect(throws: DependencyError.self) { _ = try await repository.find(usernameOrEmail: "x") }
        }
    }
}
