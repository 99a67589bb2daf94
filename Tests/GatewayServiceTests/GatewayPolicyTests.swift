import BookstoreCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import GatewayService

/// The policies as pure values, with a controllable clock (instants passed in; nothing sleeps).
@Suite struct GatewayPolicyTests {
    let t0 = ContinuousClock.now

    func endpoints(_ count: Int) -> [ReplicaEndpoint] {
        (0..<count).map { index in
            let target = ReplicaTarget(host: "10.0.0.\(index + 1)", port: 8080)
            return ReplicaEndpoint(address: try! SocketAddress(ipAddress: target.host, port: 8080), target: target, upstream: "u", metrics: nil)
        }
    }

    // MARK: Balancer

    @Test func powerOfTwoChoicesPrefersTheLessLoadedAndSpreadsTies() {
        var generator = SeededGenerator(seed: 7)
        var counts = [0, 0, 0]
        for _ in 0..<3000 {
            counts[PowerOfTwoChoices.choose(count: 3, load: { [5, 0, 5][$0] }, using: &generator)!] += 1
        }
        #expect(counts[1] == 2000 / 1 * 1 || counts[1] > 1900, "the idle replica wins whenever it is drawn (2/3 of draws): \(counts)")
        #expect(counts[0] > 400 && counts[2] > 400, "ties between the loaded ones are split: \(counts)")
        do {
            let outcome = PowerOfTwoChoices.choose(count: 0, load: { _ in 0 }, using: &generator)
            #expect(outcome == nil)
        }
        do {
            let outcome = PowerOfTwoChoices.choose(count: 1, load: { _ in 9 }, using: &generator)
            #expect(outcome == 0)
        }
        var even = [0, 0]
        for _ in 0..<1000 { even[PowerOfTwoChoices.choose(count: 2, load: { _ in 0 }, using: &generator)!] += 1 }
        #expect(abs(even[0] - even[1]) < 150, "\(even)")
    }

    @Test func replicaSetBalancesOnOutstandingRequestsAndAvoidsTriedReplicas() {
        let replicas = self.endpoints(2)
        var set = ReplicaSet(policy: EjectionPolicy(), seed: 1)
        set.replace(with: replicas)
        // Requests that never finish pile up; P2C over two replicas keeps them level.
        for _ in 0..<100 { _ = set.choose(excluding: [], at: self.t0) }
        let loads = replicas.map { set.outstanding(of: $0)! }
        #expect(abs(loads[0] - loads[1]) <= 1, "\(loads)")
        for _ in 0..<20 {
            let chosen = set.choose(excluding: [replicas[0]], at: self.t0)
            #expect(chosen === replicas[1], "a retry goes to a replica not tried yet")
        }
        do {
            let outcome = set.choose(excluding: replicas, at: self.t0)
            #expect(outcome != nil, "when all were tried, any available one")
        }
        let before = set.outstanding(of: replicas[1])!
        _ = set.finish(replicas[1], failed: false, at: self.t0)
        #expect(set.outstanding(of: replicas[1]) == before - 1)
    }

    @Test func replicaSetKeepsStateOfReplicasThatStay() {
        let replicas = self.endpoints(3)
        var set = ReplicaSet(policy: EjectionPolicy(consecutiveFailures: 1), seed: 1)
        set.replace(with: Array(replicas[0..<2]))
        _ = set.choose(excluding: [replicas[1]], at: self.t0)
        do {
            let outcome = set.finish(replicas[0], failed: true, at: self.t0)
            #expect(outcome != nil)
        }
        let replaced = set.replace(with: [self.endpoints(1)[0], replicas[2]])
        #expect(replaced[0] === replicas[0], "the same ip:port keeps its object")
        #expect(set.health(of: replicas[0])?.isEjected(at: self.t0) == true, "and its ejection")
        #expect(set.health(of: replicas[1]) == nil)
        #expect(set.availability(at: self.t0).map(\.available) == [false, true])
    }

    @Test func noReplicaWhenNoneIsHealthy() {
        let replicas = self.endpoints(2)
        var set = ReplicaSet(policy: EjectionPolicy(), seed: 1)
        set.replace(with: replicas)
        set.recordCheck(replicas[0], healthy: false)
        #expect(set.availability(at: self.t0).allSatisfy { $0.available }, "one failed check (default threshold 2) is not enough")
        set.recordCheck(replicas[0], healthy: false)
        set.recordCheck(replicas[1], healthy: false)
        do {
            let outcome = set.choose(excluding: [], at: self.t0)
            #expect(outcome === replicas[1])
        }
        set.recordCheck(replicas[1], healthy: false)
        do {
            let outcome = set.choose(excluding: [], at: self.t0)
            #expect(outcome == nil)
        }
        set.recordCheck(replicas[0], healthy: true)
        do {
            let outcome = set.choose(excluding: [], at: self.t0)
            #expect(outcome === replicas[0])
        }
    }

    // MARK: Ejection

    @Test func ejectionAfterConsecutiveFailuresWithDoublingAndTimedReadmission() {
        let policy = EjectionPolicy(consecutiveFailures: 3, baseDuration: .seconds(10), maxDuration: .seconds(35))
        var health = ReplicaHealth()
        do {
            let outcome = health.recordFailure(at: self.t0, policy: policy)
            #expect(outcome == nil)
        }
        health.recordSuccess(at: self.t0)
        do {
            let outcome = health.recordFailure(at: self.t0, policy: policy)
            #expect(outcome == nil)
        }
        do {
            let outcome = health.recordFailure(at: self.t0, policy: policy)
            #expect(outcome == nil, "a success resets the count")
        }
        do {
            let outcome = health.recordFailure(at: self.t0, policy: policy)
            #expect(outcome == .seconds(10))
        }
        #expect(!health.isAvailable(at: self.t0 + .seconds(9)))
        do {
            let outcome = health.recordFailure(at: self.t0 + .seconds(5), policy: policy)
            #expect(outcome == nil, "late failures do not extend it")
        }
        #expect(health.isAvailable(at: self.t0 + .seconds(10)), "re-admitted when the time is up")

        // Failing again soon after re-admission doubles the ejection, up to the maximum.
        var now = self.t0 + .seconds(11)
        for _ in 0..<2 { _ = health.recordFailure(at: now, policy: policy) }
        do {
            let outcome = health.recordFailure(at: now, policy: policy)
            #expect(outcome == .seconds(20))
        }
        now = now + .seconds(21)
        for _ in 0..<2 { _ = health.recordFailure(at: now, policy: policy) }
        do {
            let outcome = health.recordFailure(at: now, policy: policy)
            #expect(outcome == .seconds(35), "capped")
        }

        // A replica that stayed healthy for the base duration starts over.
        now = now + .seconds(35) + .seconds(10)
        for _ in 0..<2 { _ = health.recordFailure(at: now, policy: policy) }
        do {
            let outcome = health.recordFailure(at: now, policy: policy)
            #expect(outcome == .seconds(10))
        }
    }

    @Test func passiveEjectionTakesAtMostHalfOfTheReplicasByDefault() {
        let replicas = self.endpoints(2)
        var set = ReplicaSet(policy: EjectionPolicy(), seed: 1)
        set.replace(with: replicas)
        var ejections: [Duration] = []
        for _ in 0..<3 {
            for replica in replicas {
                if let ejection = set.finish(replica, failed: true, at: self.t0) { ejections.append(ejection) }
            }
        }
        #expect(ejections == [.seconds(10)], "3 consecutive failures on each of two replicas eject one of them (50 %)")
        #expect(set.availability(at: self.t0).map(\.available) == [false, true])
        for _ in 0..<5 { _ = set.finish(replicas[1], failed: true, at: self.t0) }
        #expect(set.availability(at: self.t0).map(\.available) == [false, true], "the other stays while the first is out")

        // When the first is re-admitted, the other, still failing, is ejected at its next failure.
        let later = self.t0 + .seconds(10)
        do {
            let outcome = set.finish(replicas[1], failed: true, at: later)
            #expect(outcome == .seconds(10))
        }
        #expect(set.availability(at: later).map(\.available) == [true, false])

        var single = ReplicaSet(policy: EjectionPolicy(), seed: 1)
        single.replace(with: [replicas[0]])
        for _ in 0..<10 { _ = single.finish(replicas[0], failed: true, at: self.t0) }
        #expect(single.availability(at: self.t0).map(\.available) == [true], "a lone replica is never ejected at 50 %")
        single.recordCheck(replicas[0], healthy: false)
        single.recordCheck(replicas[0], healthy: false)
        #expect(single.availability(at: self.t0).map(\.available) == [false], "failed readiness checks are not capped")
    }

    @Test func maxEjectionPercentBoundsTheEjectedShare() {
        func allows(_ percent: Int, _ ejected: Int, _ replicas: Int) -> Bool {
            EjectionPolicy(maxEjectionPercent: percent).allowsEjection(ejected: ejected, of: replicas)
        }
        #expect(!allows(50, 0, 1) && allows(50, 0, 2) && !allows(50, 1, 2), "50 %: none of one, one of two")
        #expect(allows(50, 0, 3) && !allows(50, 1, 3) && allows(50, 1, 4) && !allows(50, 2, 4))
        #expect(allows(100, 0, 1) && allows(100, 1, 2) && !allows(100, 2, 2), "100 %: every replica")
        #expect(!allows(0, 0, 10), "0 %: no passive ejection")
        #expect(allows(10, 0, 10) && !allows(10, 1, 10) && !allows(10, 0, 9))
    }

    @Test func consecutiveFailedChecksTakeAReplicaOutAndOnePassBringsItBack() {
        var health = ReplicaHealth()
        health.recordCheck(healthy: false, failuresToFail: 3)
        health.recordCheck(healthy: false, failuresToFail: 3)
        #expect(health.isAvailable(at: self.t0))
        health.recordCheck(healthy: true, failuresToFail: 3)
        health.recordCheck(healthy: false, failuresToFail: 3)
        health.recordCheck(healthy: false, failuresToFail: 3)
        #expect(health.isAvailable(at: self.t0), "the count starts over after a pass")
        health.recordCheck(healthy: false, failuresToFail: 3)
        #expect(!health.isAvailable(at: self.t0))
        health.recordCheck(healthy: true, failuresToFail: 3)
        #expect(health.isAvailable(at: self.t0))
    }

    @Test func activeChecksAndEjectionCombine() {
        var health = ReplicaHealth()
        health.recordCheck(healthy: false)
        #expect(!health.isAvailable(at: self.t0))
        health.recordCheck(healthy: true)
        #expect(health.isAvailable(at: self.t0))
        let policy = EjectionPolicy(consecutiveFailures: 1, baseDuration: .seconds(1))
        _ = health.recordFailure(at: self.t0, policy: policy)
        health.recordCheck(healthy: true)
        #expect(!health.isAvailable(at: self.t0), "a passing readiness check does not end an ejection early")
        #expect(health.isAvailable(at: self.t0 + .seconds(1)))
    }

    // MARK: Retry budget

    @Test func retryBudgetAllowsAFractionOfRequestsPlusAMinimum() {
        var budget = RetryBudget(configuration: .init(ratio: 0.2, minRetriesPerSecond: 1, windowSeconds: 10), now: self.t0)
        var allowed = 0
        while budget.tryRetry(at: self.t0) { allowed += 1 }
        #expect(allowed == 10, "the minimum: 1 per second of window")
        for _ in 0..<100 { budget.recordRequest(at: self.t0) }
        allowed = 0
        while budget.tryRetry(at: self.t0) { allowed += 1 }
        #expect(allowed == 20, "20 % of 100 requests")
        do {
            let outcome = budget.tryRetry(at: self.t0 + .seconds(9))
            #expect(!outcome, "still spent within the window")
        }
        do {
            let outcome = budget.tryRetry(at: self.t0 + .seconds(10))
            #expect(outcome, "the first second left the window")
        }
        var quiet = budget
        let allowedLater = (0..<50).filter { _ in quiet.tryRetry(at: self.t0 + .seconds(30)) }.count
        #expect(allowedLater == 10, "an old window is forgotten")
    }

    @Test func retryBudgetCannotAmplifyAnOutage() {
        var budget = RetryBudget(configuration: .init(ratio: 0.2, minRetriesPerSecond: 3, windowSeconds: 10), now: self.t0)
        var retries = 0
        for second in 0..<60 {
            let now = self.t0 + .seconds(second)
            for _ in 0..<1000 {
                budget.recordRequest(at: now)
                // Every request fails and asks for up to two retries.
                for _ in 0..<2 where budget.tryRetry(at: now) { retries += 1 }
            }
        }
        #expect(Double(retries) <= 60 * (1000 * 0.2 + 3) * 1.01, "retries stay near 20 % of requests: \(retries)")
    }

    @Test func backoffIsExponentialWithFullJitter() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(10), maxDelay: .milliseconds(250))
        #expect(policy.ceiling(afterAttempt: 1) == .milliseconds(10))
        #expect(policy.ceiling(afterAttempt: 3) == .milliseconds(40))
        #expect(policy.ceiling(afterAttempt: 9) == .milliseconds(250))
        var generator = SeededGenerator(seed: 3)
        let delays = (0..<200).map { _ in policy.delay(afterAttempt: 2, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(20) })
        #expect(Set(delays).count > 100, "jittered")
    }

    // MARK: Circuit breaker (the gateway's configuration of the core state machine)

    @Test func breakerOpensRefusesProbesAndCloses() {
        var breaker = CircuitBreakerStateMachine(configuration: .init(failureThreshold: 5, openDuration: .seconds(10), halfOpenProbes: 1))
        for _ in 0..<4 {
            do {
                let outcome = breaker.acquire(at: self.t0)
                #expect(outcome)
            }
            breaker.recordFailure(at: self.t0)
        }
        #expect(breaker.state == .closed)
        do {
            let outcome = breaker.acquire(at: self.t0)
            #expect(outcome)
        }
        breaker.recordFailure(at: self.t0)
        #expect(breaker.state == .open)
        do {
            let outcome = breaker.acquire(at: self.t0 + .seconds(9))
            #expect(!outcome)
        }
        #expect(breaker.state(at: self.t0 + .seconds(10)) == .halfOpen)
        do {
            let outcome = breaker.acquire(at: self.t0 + .seconds(10))
            #expect(outcome, "one probe")
        }
        do {
            let outcome = breaker.acquire(at: self.t0 + .seconds(10))
            #expect(!outcome, "only one")
        }
        breaker.recordFailure(at: self.t0 + .seconds(10))
        #expect(breaker.state == .open, "a failed probe opens it again")
        do {
            let outcome = breaker.acquire(at: self.t0 + .seconds(20))
            #expect(outcome)
        }
        breaker.recordSuccess(at: self.t0 + .seconds(20))
        #expect(breaker.state == .closed)
    }

    // MARK: Targets and headers

    @Test func targetsParse() throws {
        let literal = try ReplicaTarget(url: "http://127.0.0.1:8081/", setting: "X")
        #expect(literal.isAddressLiteral && literal.port == 8081 && literal.basePath.isEmpty && literal.authority == "127.0.0.1:8081")
        let named = try ReplicaTarget(url: "http://user-service-headless:8080/base", setting: "X")
        #expect(!named.isAddressLiteral && named.host == "user-service-headless" && named.basePath == "/base")
        let v6 = try ReplicaTarget(url: "http://[::1]:9000", setting: "X")
        #expect(v6.isAddressLiteral && v6.host == "::1" && v6.authority == "[::1]:9000")
        #expect(try ReplicaTarget(url: "http://gateway", setting: "X").port == 80)
        for bad in ["https://x:1", "ftp://x", "http://", "http://x:0", "http://x:99999", "http://a b:1"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { _ = try ReplicaTarget(url: bad, setting: "X") }
        }
    }

    @Test func resolverExpandsLocalhost() throws {
        let addresses = try HostResolver.lookup(host: "localhost", port: 8080)
        #expect(addresses.map(\.ipAddress) == ["127.0.0.1"])
        #expect(throws: (any Error).self) { _ = try HostResolver.lookup(host: "no-such-host.invalid", port: 1) }
    }

    @Test func requestIDsAreUUIDShaped() {
        var generator = RequestIDGenerator(seed: 42)
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == 1000)
        for id in ids.prefix(20) {
            #expect(id.count == 36)
            #expect(Array(id)[14] == "4", "version 4")
            #expect(UUID(uuidString: id) != nil)
        }
        #expect(RequestIDGenerator.isAcceptable("abc-123"))
        #expect(!RequestIDGenerator.isAcceptable("has space"))
        #expect(!RequestIDGenerator.isAcceptable(String(repeating: "a", count: 129)))
    }

    @Test func dotSegmentsAreDetected() {
        for path in ["/a/../b", "/a/./b", "/a/..", "/a/%2e%2E/b", "/a/.%2e/b"] { #expect(ProxyPlanner.hasDotSegment(path[...]), "\(path)") }
        for path in ["/a/b.json", "/a/...", "/a/.well-known", "/a/b"] { #expect(!ProxyPlanner.hasDotSegment(path[...]), "\(path)") }
    }
}
