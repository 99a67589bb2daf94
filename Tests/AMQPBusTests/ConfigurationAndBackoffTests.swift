import BookstoreCore
import Foundation
import Testing

@testable import AMQPBus

@Suite struct AMQPConfigurationTests {
    @Test func readsDefaults() throws {
        let configuration = try AMQPConfiguration(settings: Settings(environment: ["TMPDIR": "/var/tmp/"]), serviceName: "review-service")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 5672)
        #expect(configuration.virtualHost == "/")
        #expect(configuration.heartbeatSeconds == 30)
        #expect(configuration.outboxDirectory == "/var/tmp/bookstore-outbox/review-service")
        #expect(configuration.outboxMaxMessages == 100_000)
        #expect(configuration.connectionName == "review-service")
    }

    @Test func readsEverySetting() throws {
        let settings = Settings(environment: [
            "RABBITMQ_HOST": "mq.internal", "RABBITMQ_PORT": "5673", "RABBITMQ_USER": "u", "RABBITMQ_PASS": "secret",
            "RABBITMQ_VHOST": "bookstore", "RABBITMQ_HEARTBEAT_SECONDS": "0", "RABBITMQ_OUTBOX_DIR": "/data/outbox",
            "RABBITMQ_OUTBOX_MAX_MESSAGES": "10",
        ])
        let configuration = try AMQPConfiguration(settings: settings, serviceName: "s")
        #expect(configuration.host == "mq.internal")
        #expect(configuration.port == 5673)
        #expect(configuration.user == "u")
        #expect(configuration.password == "secret")
        #expect(configuration.virtualHost == "bookstore")
        #expect(configuration.heartbeatSeconds == 0)
        #expect(configuration.outboxDirectory == "/data/outbox")
        #expect(configuration.outboxMaxMessages == 10)
        #expect(!configuration.description.contains("secret"))
    }

    @Test(arguments: [
        ["RABBITMQ_PORT": "0"], ["RABBITMQ_PORT": "70000"], ["RABBITMQ_PORT": "x"], ["RABBITMQ_HEARTBEAT_SECONDS": "-1"],
        ["RABBITMQ_OUTBOX_MAX_MESSAGES": "0"], ["RABBITMQ_OUTBOX_DIR": "relative/dir"], ["RABBITMQ_HOST": "a b"],
    ])
    func rejectsInvalidValues(_ environment: [String: String]) {
        #expect(throws: ConfigurationError.self) { try AMQPConfiguration(settings: Settings(environment: environment), serviceName: "s") }
    }

    @Test func keepsTheServiceNameInsideTheOutboxFolder() {
        #expect(AMQPConfiguration.safePathComponent("../../etc") == ".._.._etc")
        #expect(AMQPConfiguration.safePathComponent("..") == "service")
        #expect(AMQPConfiguration.safePathComponent("") == "service")
        #expect(AMQPConfiguration.safePathComponent("payment-service_2.a") == "payment-service_2.a")
    }
}

@Suite struct BackoffTests {
    @Test func growsExponentiallyUpToItsCap() {
        let backoff = Backoff(base: .milliseconds(100), max: .seconds(5), jitter: .equal)
        #expect(backoff.ceiling(afterAttempt: 1) == .milliseconds(100))
        #expect(backoff.ceiling(afterAttempt: 2) == .milliseconds(200))
        #expect(backoff.ceiling(afterAttempt: 4) == .milliseconds(800))
        #expect(backoff.ceiling(afterAttempt: 7) == .seconds(5))
        #expect(backoff.ceiling(afterAttempt: 10_000) == .seconds(5))
        #expect(backoff.ceiling(afterAttempt: 0) == .milliseconds(100))
    }

    @Test func jittersWithinTheUpperHalf() {
        let backoff = Backoff(base: .milliseconds(100), max: .seconds(5), jitter: .equal)
        var generator = SeededGenerator(seed: 7)
        for attempt in 1...12 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            var delays: Set<Duration> = []
            for _ in 0..<50 {
                let delay = backoff.delay(afterAttempt: attempt, using: &generator)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
                delays.insert(delay)
            }
            #expect(delays.count > 1)
        }
    }

    @Test func reconnectsAtOnceAfterAStableConnectionAndBacksOffOtherwise() {
        let start = ContinuousClock.now
        var schedule = ReconnectSchedule(backoff: Backoff(base: .milliseconds(100), max: .seconds(1), jitter: .equal), now: start)
        #expect(schedule.isDue(now: start))
        let first = schedule.attemptFailed(now: start)
        #expect(first >= .milliseconds(50) && first <= .milliseconds(100))
        #expect(!schedule.isDue(now: start))
        let second = schedule.attemptFailed(now: start)
        #expect(second >= .milliseconds(100) && second <= .milliseconds(200))
        // Connected, then lost quickly: keep backing off.
        schedule.connected(now: start)
        schedule.connectionLost(now: start + .seconds(1))
        #expect(schedule.failedAttempts == 3)
        #expect(!schedule.isDue(now: start + .seconds(1)))
        // Connected for long enough, then lost: reconnect immediately.
        schedule.connected(now: start + .seconds(2))
        let later = start + .seconds(2) + ReconnectSchedule.stablePeriod
        schedule.connectionLost(now: later)
        #expect(schedule.failedAttempts == 0)
        #expect(schedule.isDue(now: later))
    }
}
