import BookstoreCore
import Testing

@Suite struct CircuitBreakerStateMachineTests {
    let configuration = CircuitBreakerStateMachine.Configuration(failureThreshold: 3, openDuration: .seconds(10), halfOpenProbes: 1)

    @Test func opensAfterConsecutiveFailuresAndRecoversThroughHalfOpen() {
        var machine = CircuitBreakerStateMachine(configuration: self.configuration)
        let start = ContinuousClock.now
        for _ in 0..<2 {
            let allowed455 = machine.acquire(at: start)
            #expect(allowed455)
            machine.recordFailure(at: start)
        }
        #expect(machine.state == .closed)
        machine.recordSuccess(at: start)  // resets the count
        for _ in 0..<3 { machine.recordFailure(at: start) }
        #expect(machine.state == .open)
        let allowed758 = machine.acquire(at: start + .seconds(9))
        #expect(!allowed758)
        #expect(machine.state(at: start + .seconds(10)) == .halfOpen)
        let allowed887 = machine.acquire(at: start + .seconds(10))
        #expect(allowed887)
        let allowed946 = machine.acquire(at: start + .seconds(10))
        #expect(!allowed946, "only one probe at a time")
        machine.recordSuccess(at: start + .seconds(11))
        #expect(machine.state == .closed)
    }

    @Test func failedProbeReopens() {
        var machine = CircuitBreakerStateMachine(configuration: self.configuration)
        let start = ContinuousClock.now
        for _ in 0..<3 { machine.recordFailure(at: start) }
        let allowed1361 = machine.acquire(at: start + .seconds(10))
        #expect(allowed1361)
        machine.recordFailure(at: start + .seconds(10))
        #expect(machine.state == .open)
        let allowed1516 = machine.acquire(at: start + .seconds(19))
        #expect(!allowed1516)
        let allowed1576 = machine.acquire(at: start + .seconds(20))
        #expect(allowed1576)
    }

    @Test func aPassingCheckClosesABreakerWhoseOpenPeriodIsOver() {
        var machine = CircuitBreakerStateMachine(configuration: self.configuration)
        let start = ContinuousClock.now
        for _ in 0..<3 { machine.recordFailure(at: start) }
        let closedEarly = machine.recordPassingCheck(at: start + .seconds(5))
        #expect(!closedEarly, "the fail-fast period is kept")
        #expect(machine.state(at: start + .seconds(5)) == .open)
        // An idle spell: nobody called, so the breaker is still open internally (half-open only when asked).
        let closedAfterIdle = machine.recordPassingCheck(at: start + .seconds(300))
        #expect(closedAfterIdle)
        #expect(machine.state == .closed)
        // A burst after it is not limited to one probe.
        var permitted = 0
        for _ in 0..<5 where machine.acquire(at: start + .seconds(301)) { permitted += 1 }
        #expect(permitted == 5)
        let closedAgain = machine.recordPassingCheck(at: start + .seconds(302))
        #expect(!closedAgain, "a closed breaker has nothing to close")
    }
}

@Suite struct RetryPolicyTests {
    @Test func backoffIsExponentialCappedAndJittered() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .milliseconds(500))
        #expect(policy.ceiling(afterAttempt: 1) == .milliseconds(100))
        #expect(policy.ceiling(afterAttempt: 2) == .milliseconds(200))
        #expect(policy.ceiling(afterAttempt: 3) == .milliseconds(400))
        #expect(policy.ceiling(afterAttempt: 4) == .milliseconds(500))
        var generator = SeededGenerator(seed: 42)
        let delays = (0..<50).map { _ in policy.delay(afterAttempt: 3, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        #expect(Set(delays).count > 40, "jitter spreads the delays")
    }

    @Test func retriesOnlyTransientErrorsUpToTheLimit() async throws {
        struct Transient: Error {}
        struct Fatal: Error {}
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let isTransient: (any Error) -> Bool = { $0 is Transient }
        var calls = 0
        await #expect(throws: Transient.self) {
            try await policy.run(shouldRetry: isTransient) {
                calls += 1
                throw Transient()
            }
        }
        #expect(calls == 3)
        calls = 0
        await #expect(throws: Fatal.self) {
            try await policy.run(shouldRetry: isTransient) {
                calls += 1
                throw Fatal()
            }
        }
        #expect(calls == 1)
    }

    @Test func seededGeneratorIsReproducible() {
        var first = SeededGenerator(seed: 7)
        var second = SeededGenerator(seed: 7)
        #expect((0..<10).map { _ in first.next() } == (0..<10).map { _ in second.next() })
    }
}

@Suite struct RateLimiterTests {
    @Test func refusesBeyondBurstAndRefills() {
        let limiter = RateLimiter(perMinute: 60, burst: 2)
        let now = ContinuousClock.now
        #expect(limiter.acquire("a", now: now) == nil)
        #expect(limiter.acquire("a", now: now) == nil)
        #expect(limiter.acquire("a", now: now) == 1)
        #expect(limiter.acquire("b", now: now) == nil, "buckets are per client")
        #expect(limiter.acquire("a", now: now + .seconds(1)) == nil)
    }

    @Test func aFloodOfNewClientsDoesNotResetADrainedBucket() {
        // The default capacity: 100 000 clients. A drains its bucket; 99 999 others each take a token.
        let limiter = RateLimiter(perMinute: 60, burst: 2)
        let now = ContinuousClock.now
        #expect(limiter.acquire("a", now: now) == nil)
        #expect(limiter.acquire("a", now: now) == nil)
        #expect(limiter.acquire("a", now: now) != nil)
        for index in 1..<100_000 { _ = limiter.acquire("client-\(index)", now: now) }
        // A flood of new (e.g. spoofed) addresses: no bucket is idle, so none is evicted.
        var allowed = 0
        for index in 0..<1000 where limiter.acquire("flood-\(index)", now: now) == nil { allowed += 1 }
        #expect(limiter.acquire("a", now: now) != nil, "A is still limited")
        #expect(allowed == 2, "the new clients share one overflow bucket")
        #expect(limiter.acquire("client-7", now: now) == nil, "the clients already known keep their buckets")
        #expect(limiter.acquire("client-7", now: now) != nil)
        #expect(limiter.clientCount == 100_000)
    }

    @Test func idleBucketsMakeRoomForNewClients() {
        let limiter = RateLimiter(perMinute: 60, burst: 2, capacity: 2)
        let now = ContinuousClock.now
        #expect(limiter.acquire("a", now: now) == nil)
        #expect(limiter.acquire("b", now: now) == nil)
        #expect(limiter.acquire("c", now: now) == nil, "the table is full: c takes from the overflow bucket")
        #expect(limiter.acquire("d", now: now) == nil)
        #expect(limiter.acquire("e", now: now) != nil, "which the new clients share")
        #expect(limiter.clientCount == 2)
        // Two seconds later a and b have refilled (idle): they make room, being what a new bucket would be.
        let later = now + .seconds(2)
        #expect(limiter.acquire("c", now: later) == nil)
        #expect(limiter.acquire("c", now: later) == nil)
        #expect(limiter.acquire("c", now: later) != nil, "c has a bucket of its own now")
        #expect(limiter.acquire("d", now: later) == nil, "and so has d")
        #expect(limiter.clientCount == 2)
    }
}
