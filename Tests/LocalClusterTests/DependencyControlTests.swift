import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import LocalCluster

@Suite struct DependencyControlTests {
    @Test func noCommandMeansNoControl() {
        #expect(DependencyControl(command: nil) == nil)
        #expect(DependencyControl(command: "  ") == nil)
        #expect(DependencyControl(command: "bash ci/infra")?.command == ["bash", "ci/infra"])
    }

    @Test func aCommandThatFailsIsAFailureWithItsStatus() async throws {
        try await DependencyControl(command: "true")?.run(.stop, "postgres")
        await #expect(throws: DependencyControl.Failure.self) { try await DependencyControl(command: "false")?.run(.start, "postgres") }
    }

    /// The control API's router with a supervisor of no replicas, stopped (its HTTP client shut down) afterwards.
    static func withApp(_ dependencies: DependencyControl?, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let configuration = ClusterConfiguration(binary: "/bin/false", dataDirectory: "/tmp/none", replicas: [:], dependencies: dependencies)
        let supervisor = Supervisor(configuration: configuration, logger: Logger(label: "test"))
        let app = Application(router: LocalClusterService.router(supervisor: supervisor, autoscaler: nil, dependencies: dependencies))
        do {
            try await app.test(.router, body)
        } catch {
            await supervisor.stopAll()
            throw error
        }
        await supervisor.stopAll()
    }

    @Test func theControlAPIRunsTheCommandForKnownDependenciesOnly() async throws {
        try await Self.withApp(DependencyControl(command: "true")) { client in
            try await client.execute(uri: "/dependencies/postgres/stop", method: .post) { #expect($0.status == .ok) }
            try await client.execute(uri: "/dependencies/mongo/start", method: .post) { #expect($0.status == .ok) }
            try await client.execute(uri: "/dependencies/etcd/stop", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/dependencies/postgres/pause", method: .post) { #expect($0.status == .notFound) }
        }
        try await Self.withApp(DependencyControl(command: "false")) { client in
            try await client.execute(uri: "/dependencies/postgres/stop", method: .post) { #expect($0.status == .badGateway) }
        }
        try await Self.withApp(nil) { client in
            try await client.execute(uri: "/dependencies/postgres/stop", method: .post) { #expect($0.status == .notImplemented) }
        }
    }
}
