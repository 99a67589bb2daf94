import Foundation
import JSONKit

/// failover: steady open-model GET load through the gateway while one replica of a service is killed (SIGKILL) or
/// stopped (SIGTERM): failed requests within the budget (0 for GETs), the replica comes back ready, and traffic
/// reaches it again.
public enum FailoverSuite {
    static let victimKey = "failover.victim"

    /// The replica killed by the zero-errors check, as it was before the kill.
    struct Victim: Sendable {
        var replica: ReplicaInfo
        var readyBefore: Int
        var killedAt: ContinuousClock.Instant
    }

    public static var checks: [Check] {
        [self.zeroErrors, self.replicaReturns, self.trafficReturns, self.gracefulStop, self.readinessFollowsDatabase, self.keylessPostNotResent]
    }

    static func check(
        _ id: String,
        _ summary: String,
        timeLimit: Duration = .seconds(180),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .failover, summary, requires: [.http, .replicaControl], timeLimit: timeLimit, body: body)
    }

    static func control(_ context: CheckContext) throws -> any ReplicaControl {
        guard let control = context.endpoints.replicaControl else { throw CheckSkip("no replica control") }
        return control
    }

    /// A ready replica of the service to disrupt, failing unless another ready one stays.
    static func pickVictim(_ context: CheckContext, service: String) async throws -> (ReplicaInfo, [ReplicaInfo]) {
        let replicas = try await self.control(context).replicas(of: service)
        let ready = replicas.filter(\.isReady)
        context.note("replicas of \(service): " + replicas.map { "\($0.id) \($0.status)" }.joined(separator: ", "))
        guard ready.count >= 2, let victim = ready.last else {
            throw CheckFailure(
                expected: "at least 2 ready replicas of \(service) to fail over between",
                seen: "\(ready.count) ready of \(replicas.count)"
            )
        }
        return (victim, ready)
    }

    /// Runs load and applies `disrupt` after the configured delay; returns the load summary.
    static func underLoad(_ context: CheckContext, disrupt: @escaping @Sendable () async throws -> Void) async throws -> SteadyLoad.Summary {
        let options = context.options
        let path = options.failoverPath ?? ServicePaths.readPath(for: options.failoverService)
        let load = SteadyLoad(baseURL: context.http.baseURL, path: path, rate: options.failoverRate, duration: options.failoverDuration)
        context.note("load: GET \(path) at \(options.failoverRate) req/s for \(Int(options.failoverDuration.asSeconds)) s")
        return try await withThrowingTaskGroup(of: SteadyLoad.Summary?.self) { group in
            group.addTask { try await load.run() }
            group.addTask {
                try await Task.sleep(for: options.failoverKillAfter)
                try await disrupt()
                return nil
            }
            var summary: SteadyLoad.Summary?
            for try await result in group where result != nil { summary = result }
            guard let summary else { throw CheckFailure(expected: "a load result", seen: "none") }
            return summary
        }
    }

    /// Readiness is whether a replica can serve: without its database the users service cannot (SPEC §3, §7).
    static var readinessFollowsDatabase: Check {
        self.check(
            "FAILOVER-READINESS-FOLLOWS-DATABASE",
            "With PostgreSQL stopped, the users service's readiness answers 503, and 200 again once the database is back",
            timeLimit: .seconds(300)
        ) { context in
            let control = try self.control(context)
            let path = "/api/users/health/ready"
            let before = try await context.http.get(path)
            guard before.status == 200 else {
                throw CheckBlocked(fixture: "GET \(path) before stopping PostgreSQL", seen: "answered \(before.status) \(before.excerpt)")
            }
            try await control.setDependency("postgres", running: false)
            await context.run.addCleanup("start postgres") { try? await control.setDependency("postgres", running: true) }
            var last: HTTPResponse?
            let notReady = try await Polling.until(budget: .seconds(30), interval: .milliseconds(500)) { () -> Bool? in
                last = try await context.http.get(path, record: false)
                return last?.status == 503 ? true : nil
            }
            let whileDown = last
            try await control.setDependency("postgres", running: true)
            await context.run.removeCleanups("start postgres")
            let started = ContinuousClock.now
            let ready = try await Polling.until(budget: .seconds(60), interval: .milliseconds(500)) { () -> Bool? in
                last = try await context.http.get(path, record: false)
                return last?.status == 200 ? true : nil
            }
            try context.require(
                notReady != nil,
                expected: "GET \(path) to answer 503 within 30 s of stopping PostgreSQL",
                seen: whileDown.map { "\($0.status) \($0.excerpt)" } ?? "no answer"
            )
            context.measure("database stopped → not ready", "\(Evidence.milliseconds(notReady?.elapsed ?? .zero)) ms")
            try context.require(
                ready != nil,
                expected: "GET \(path) to answer 200 within 60 s of PostgreSQL being back",
                seen: last.map { "\($0.status) \($0.excerpt)" } ?? "no answer"
            )
            context.measure("database back → ready", "\(Evidence.milliseconds(ContinuousClock.now - started)) ms")
        }
    }

    /// SPEC §5: the gateway never re-sends a POST that may have reached the upstream unless it carries an
    /// `Idempotency-Key`. A reviews replica is frozen (SIGSTOP) with votes in flight to it: a gateway that gives up on
    /// it (504) is right; one that re-sends a vote to the other replica has it counted twice once the frozen replica
    /// goes on with what it had received.
    static var keylessPostNotResent: Check {
        self.check(
            "FAILOVER-KEYLESS-POST-NOT-RESENT",
            "A POST without Idempotency-Key that reached a replica which then stalls is not re-sent to another: helpful votes "
                + "sent while a reviews replica is frozen are each counted once",
            timeLimit: .seconds(150)
        ) { context in
            let control = try self.control(context)
            let (victim, _) = try await self.pickVictim(context, service: "reviews")
            let alice = try await context.user("alice")
            let (_, review) = try await context.createReview(by: alice, bookID: await context.uniqueName("book"))
            let id = review["review_id"]?.stringValue ?? ""
            let votes = 6
            // A replica just back from an earlier check may be ready before the gateway sends it traffic again.
            if let url = victim.url {
                let taking = try await Polling.until(budget: .seconds(30), interval: .milliseconds(500)) { () -> Bool? in
                    let before = try await self.applicationRequests(context, url: url)
                    for _ in 0..<10 { _ = try await context.http.get("/api/reviews/\(id)", record: false) }
                    return try await self.applicationRequests(context, url: url) > before ? true : nil
                }
                guard taking != nil else {
                    throw CheckBlocked(fixture: "gateway traffic to \(victim.id) before freezing it", seen: "none within 30 s")
                }
            }
            try await control.pause(victim.id)
            await context.run.addCleanup("resume \(victim.id)") { try? await control.resume(victim.id) }
            context.note("froze \(victim.id); sending \(votes) helpful votes without Idempotency-Key at once")
            let answers = await withTaskGroup(of: (Int?, Duration).self) { group in
                for _ in 0..<votes {
                    group.addTask {
                        let start = ContinuousClock.now
                        let response = try? await context.http.send(
                            "POST",
                            "/api/reviews/\(id)/helpful",
                            headers: HTTPDriver.authorized([], token: alice.token),
                            timeout: .seconds(60)
                        )
                        return (response?.status, ContinuousClock.now - start)
                    }
                }
                var answers: [(Int?, Duration)] = []
                for await answer in group { answers.append(answer) }
                return answers
            }
            try await control.resume(victim.id)
            await context.run.removeCleanups("resume \(victim.id)")
            let seen = answers.map { "\($0.0.map(String.init) ?? "no answer") after \(Evidence.milliseconds($0.1)) ms" }.joined(separator: ", ")
            context.measure("answers", seen)
            // Votes the healthy replica took are answered at once; the ones held by the frozen replica wait for the
            // gateway's read timeout.
            let held = answers.count(where: { $0.1 > .seconds(2) })
            guard held > 0 else {
                throw CheckBlocked(fixture: "helpful votes held by the frozen \(victim.id)", seen: "every vote answered within 2 s: \(seen)")
            }
            // The frozen replica, resumed, goes on with the votes it had received: wait until every vote is counted,
            // then a little longer for a re-sent one.
            var count = 0
            _ = try await Polling.until(budget: .seconds(20), interval: .milliseconds(500)) { () -> Bool? in
                count = try await context.http.get("/api/reviews/\(id)", record: false).json?["helpful_count"]?.intValue ?? 0
                return count >= votes ? true : nil
            }
            try await Task.sleep(for: .seconds(2))
            let final = try await context.http.get("/api/reviews/\(id)")
            count = final.json?["helpful_count"]?.intValue ?? count
            context.measure("helpful_count", "\(count) after \(votes) votes, \(held) held by the frozen replica")
            try context.require(
                count <= votes,
                expected: "helpful_count at most \(votes) after \(votes) votes (a vote held by a stalled replica is not re-sent)",
                seen: "helpful_count \(count); answers: \(seen)"
            )
        }
    }

    static var zeroErrors: Check {
        self.check(
            "FAILOVER-GATEWAY-ZERO-ERRORS",
            "Under steady GET load through the gateway, killing one replica (SIGKILL) costs no failed request (within the budget)"
        ) { context in
            let service = context.options.failoverService
            let control = try self.control(context)
            let (victim, ready) = try await self.pickVictim(context, service: service)
            context.note(
                "killing \(victim.id) (pid \(victim.pid.map(String.init) ?? "?")) after \(Int(context.options.failoverKillAfter.asSeconds)) s of load"
            )
            let summary = try await self.underLoad(context) {
                try await control.kill(victim.id)
                await context.run.set(self.victimKey, Victim(replica: victim, readyBefore: ready.count, killedAt: .now))
            }
            context.measure("load", summary.description)
            let budget = context.options.failoverErrorBudget
            try context.require(
                summary.sent > 0 && summary.failed <= budget,
                expected: "at most \(budget) failed GETs (no response or not 2xx) while \(victim.id) died",
                seen: summary.description
            )
        }
    }

    /// Waits until the service has its ready replicas back and `victim` was replaced or restarted.
    static func waitForReturn(_ context: CheckContext, victim: Victim) async throws -> Duration {
        let control = try self.control(context)
        let service = victim.replica.service
        var last: [ReplicaInfo] = []
        let returned = try await Polling.until(budget: context.options.replicaReturnBudget, interval: .milliseconds(500)) { () -> Bool? in
            last = try await control.replicas(of: service)
            let readyCount = last.count(where: \.isReady)
            guard readyCount >= victim.readyBefore else { return nil }
            if let again = last.first(where: { $0.id == victim.replica.id }) {
                let restarted = again.pid != victim.replica.pid || (again.restarts ?? 0) > (victim.replica.restarts ?? 0)
                return again.isReady && (restarted || victim.replica.pid == nil) ? true : nil
            }
            return true
        }
        guard let returned else {
            throw CheckFailure(
                expected: "\(victim.replica.id) (or its replacement) ready again within \(Int(context.options.replicaReturnBudget.asSeconds)) s, "
                    + "with \(victim.readyBefore) ready replicas of \(service)",
                seen: last.map { "\($0.id) \($0.status) pid \($0.pid.map(String.init) ?? "-") restarts \($0.restarts.map(String.init) ?? "-")" }
                    .joined(separator: ", ")
            )
        }
        return returned.elapsed
    }

    static var replicaReturns: Check {
        self.check("FAILOVER-REPLICA-RETURNS", "A killed replica is restarted and becomes ready again within the budget") { context in
            var victim: Victim? = await context.run.value(self.victimKey)
            if victim == nil {
                let (replica, ready) = try await self.pickVictim(context, service: context.options.failoverService)
                try await self.control(context).kill(replica.id)
                victim = Victim(replica: replica, readyBefore: ready.count, killedAt: .now)
                await context.run.set(self.victimKey, victim)
            }
            guard let victim else { return }
            let waited = try await self.waitForReturn(context, victim: victim)
            context.measure(
                "kill → ready again",
                "\(Evidence.milliseconds(ContinuousClock.now - victim.killedAt)) ms (waited \(Evidence.milliseconds(waited)) ms here)"
            )
        }
    }

    /// The sum of `http_requests_total` over application routes (health, readiness and metrics excluded).
    static func applicationRequests(_ context: CheckContext, url: String) async throws -> Double {
        for path in ["/metrics", "/actuator/prometheus"] {
            let response = try await context.http.get(url + path, record: false)
            guard response.status == 200 else { continue }
            return PrometheusText.sum(
                "http_requests_total",
                in: String(decoding: response.body, as: UTF8.self)
            ) { labels in
                let route = labels["route"] ?? ""
                return !route.contains("health") && !route.contains("metrics") && !route.contains("prometheus") && !route.contains("actuator")
            }
        }
        throw CheckFailure(expected: "metrics at \(url)/metrics or /actuator/prometheus", seen: "neither answered 200")
    }

    static var trafficReturns: Check {
        self.check("FAILOVER-TRAFFIC-RETURNS", "After it returns, the replica receives gateway traffic again (its own request counter grows)") {
            context in
            let control = try self.control(context)
            let service = context.options.failoverService
            let victim: Victim? = await context.run.value(self.victimKey)
            let replicas = try await control.replicas(of: service)
            guard let replica = replicas.first(where: { $0.id == victim?.replica.id }) ?? replicas.first(where: \.isReady) else {
                throw CheckFailure(expected: "a replica of \(service)", seen: "none")
            }
            guard let url = replica.url else {
                throw CheckSkip("the replicas' own addresses are not reachable from here (\(context.target.name)); cannot read their counters")
            }
            if !replica.isReady, let victim { _ = try await self.waitForReturn(context, victim: victim) }
            let before = try await self.applicationRequests(context, url: url)
            let path = context.options.failoverPath ?? ServicePaths.readPath(for: service)
            let sends = 20 * max(replicas.count, 2)
            for _ in 0..<sends { _ = try await context.http.get(path, record: false) }
            let after = try await self.applicationRequests(context, url: url)
            context.measure("\(replica.id) application requests", "\(Int(before)) → \(Int(after)) after \(sends) GETs through the gateway")
            try context.require(
                after > before,
                expected: "\(replica.id) to serve some of \(sends) GETs sent through the gateway",
                seen: "its http_requests_total stayed at \(Int(before))"
            )
        }
    }

    static var gracefulStop: Check {
        self.check(
            "FAILOVER-GRACEFUL-STOP-ZERO-ERRORS",
            "Stopping a replica (SIGTERM: readiness turns 503, in-flight requests finish) under load costs no failed request; it starts again"
        ) { context in
            let service = context.options.failoverService
            let control = try self.control(context)
            let (victim, ready) = try await self.pickVictim(context, service: service)
            await context.run.addCleanup("start \(victim.id)") { try? await control.start(victim.id) }
            let summary = try await self.underLoad(context) { try await control.stop(victim.id) }
            context.measure("load", summary.description)
            try await control.start(victim.id)
            await context.run.removeCleanups("start \(victim.id)")
            let waited = try await self.waitForReturn(context, victim: Victim(replica: victim, readyBefore: ready.count, killedAt: .now))
            context.measure("start → ready", "\(Evidence.milliseconds(waited)) ms")
            let budget = context.options.failoverErrorBudget
            try context.require(
                summary.failed <= budget,
                expected: "at most \(budget) failed GETs while \(victim.id) shut down gracefully",
                seen: summary.description
            )
        }
    }
}
