import ConformanceKit
import Testing

@Suite struct FailoverSuiteTests {
    static func endpoints(_ url: String) -> TargetEndpoints {
        TargetEndpoints(baseURL: url, replicaControl: ControlAPIReplicaControl(baseURL: url))
    }

    static var options: RunOptions {
        var options = RunOptions()
        options.failoverPath = "/api/reviews/book/x"
        options.failoverRate = 40
        options.failoverDuration = .seconds(2)
        options.failoverKillAfter = .milliseconds(400)
        options.replicaReturnBudget = .seconds(2)
        return options
    }

    @Test func replicasThatReturnPass() async throws {
        try await FakeServer.with(FakeOperations().router) { url in
            let ids = ["FAILOVER-GATEWAY-ZERO-ERRORS", "FAILOVER-REPLICA-RETURNS", "FAILOVER-GRACEFUL-STOP-ZERO-ERRORS"]
            let results = try await Harness.run(ids, endpoints: Self.endpoints(url), options: Self.options)
            for id in ids { #expect(results[id]?.status == .passed, "\(id): \(results[id]?.status.message ?? "")") }
        }
    }

    @Test func readinessThatFollowsTheDatabasePasses() async throws {
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let id = "FAILOVER-READINESS-FOLLOWS-DATABASE"
            let results = try await Harness.run([id], endpoints: Self.endpoints(url), options: Self.options)
            #expect(results[id]?.status == .passed, "\(results[id]?.status.message ?? "")")
            #expect(operations.databaseIsRunning)
        }
    }

    /// Issue 10 (planted twin: users-ready-without-database): readiness that stays 200 with the database stopped fails,
    /// and the database is started again.
    @Test func readinessThatIgnoresTheDatabaseFails() async throws {
        let operations = FakeOperations(defects: .init(readyWithoutDatabase: true))
        try await FakeServer.with(operations.router) { url in
            let id = "FAILOVER-READINESS-FOLLOWS-DATABASE"
            let results = try await Harness.run([id], endpoints: Self.endpoints(url), options: Self.options)
            let result = try #require(results[id])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("503 within 30 s") == true, "\(result.status.message ?? "")")
            #expect(operations.databaseIsRunning, "the database was started again")
        }
    }

    @Test func aReplicaThatNeverComesBackFails() async throws {
        try await FakeServer.with(FakeOperations(defects: .init(replicaNeverReturns: true)).router) { url in
            let results = try await Harness.run(
                ["FAILOVER-GATEWAY-ZERO-ERRORS", "FAILOVER-REPLICA-RETURNS"],
                endpoints: Self.endpoints(url),
                options: Self.options
            )
            #expect(results["FAILOVER-GATEWAY-ZERO-ERRORS"]?.status == .passed)
            let result = try #require(results["FAILOVER-REPLICA-RETURNS"])
            #expect(result.status.isFailure)
            #expect(
                result.status.message?.contains("reviews-2") == true && result.status.message?.contains("crashed") == true,
                "\(result.status.message ?? "")"
            )
        }
    }

    @Test func failedRequestsDuringTheKillFail() async throws {
        try await FakeServer.with(FakeOperations(defects: .init(gatewayFailsDuringKill: true), returnDelay: .seconds(1)).router) { url in
            let results = try await Harness.run(["FAILOVER-GATEWAY-ZERO-ERRORS"], endpoints: Self.endpoints(url), options: Self.options)
            let result = try #require(results["FAILOVER-GATEWAY-ZERO-ERRORS"])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("at most 0 failed GETs") == true, "\(result.status.message ?? "")")
            #expect(result.status.message?.contains("×502") == true, "\(result.status.message ?? "")")
        }
    }

    /// Issue 10 (planted twin: gateway-resends-keyless-post): votes held by a frozen replica are answered 504 and
    /// counted once it goes on; a gateway that re-sends them has them counted twice.
    @Test(arguments: [false, true])
    func keylessVotesHeldByAFrozenReplicaAreCountedOnce(_ resends: Bool) async throws {
        try await FakeServer.with(FakeFreezableReviews(resendsHeldVotes: resends).router) { url in
            let id = "FAILOVER-KEYLESS-POST-NOT-RESENT"
            let results = try await Harness.run([id], endpoints: Self.endpoints(url), options: Self.options)
            let result = try #require(results[id])
            if resends {
                #expect(result.status.isFailure, "\(result.status)")
                #expect(result.status.message?.contains("helpful_count 9") == true, "\(result.status.message ?? "")")
            } else {
                #expect(result.status == .passed, "\(result.status.message ?? "")")
            }
        }
    }

    /// Issue 10: 3xx and 429 answers counted as served.
    @Test(arguments: [FakeOperations.Defects(gatewayThrottlesDuringKill: true), FakeOperations.Defects(redirectsDuringKill: true)])
    func throttledOrRedirectedRequestsDuringTheKillFail(_ defects: FakeOperations.Defects) async throws {
        try await FakeServer.with(FakeOperations(defects: defects, returnDelay: .seconds(1)).router) { url in
            let results = try await Harness.run(["FAILOVER-GATEWAY-ZERO-ERRORS"], endpoints: Self.endpoints(url), options: Self.options)
            let result = try #require(results["FAILOVER-GATEWAY-ZERO-ERRORS"])
            #expect(result.status.isFailure, "\(result.status)")
            #expect(result.status.message?.contains("not 2xx") == true, "\(result.status.message ?? "")")
        }
    }
}
