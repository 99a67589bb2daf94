import BookstoreCore
import Foundation
import Logging
import Testing

@testable import AMQPBus

/// The bus with no broker to talk to (a closed port): everything must keep working through the outbox.
@Suite struct OfflineBusTests {
    private func configuration(_ directory: TemporaryDirectory, maxMessages: Int = 100) -> AMQPConfiguration {
        AMQPConfiguration(
            port: 1,
            outboxDirectory: directory.path + "/outbox",
            outboxMaxMessages: maxMessages,
            reconnectBackoff: Backoff(base: .milliseconds(50), max: .milliseconds(200), jitter: .equal)
        )
    }

    private func message(_ index: Int) -> EventMessage {
        EventMessage(exchange: Exchanges.payment, routingKey: "payment.completed", body: Array("{\"n\":\(index)}".utf8), messageID: "id-\(index)")
    }

    /// Runs `body` while `bus` runs as a service, then stops it.
    private func withRunningBus(_ bus: AMQPEventBus, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await bus.run() }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    @Test func constructingTheBusTouchesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        _ = AMQPEventBus(configuration: self.configuration(directory), serviceName: "svc", logger: quietLogger)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/outbox"))
    }

    @Test func constructsFromSettingsOrRejectsThem() throws {
        let logger = quietLogger
        _ = try AMQPEventBus(settings: Settings(environment: ["RABBITMQ_PORT": "55672"]), serviceName: "svc", logger: logger)
        #expect(throws: ConfigurationError.self) {
            try AMQPEventBus(settings: Settings(environment: ["RABBITMQ_PORT": "-1"]), serviceName: "svc", logger: logger)
        }
    }

    @Test func publishesIntoTheOutboxWhileTheBrokerIsDownAndKeepsThemAcrossRestarts() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let bus = AMQPEventBus(configuration: self.configuration(directory), serviceName: "svc", logger: quietLogger)
        try await self.withRunningBus(bus) {
            try await bus.declareExchanges(Exchanges.all)
            try await bus.declareQueue(QueueSpec(name: "q", bindings: [.init(exchange: Exchanges.payment, pattern: "#")]))
            for index in 0..<20 { try await bus.publish(self.message(index)) }
            #expect(await bus.outboxDepth() == 20)
            #expect(await !bus.isHealthy())
        }
        await #expect(throws: AMQPBusError.shutDown) { try await bus.publish(self.message(99)) }

        // The next process finds them.
        let restarted = AMQPEventBus(configuration: self.configuration(directory), serviceName: "svc", logger: quietLogger)
        try await self.withRunningBus(restarted) {
            #expect(await restarted.outboxDepth() == 20)
        }
        let (outbox, _) = try Outbox.open(base: directory.path + "/outbox", maxMessages: 100)
        defer { outbox.close() }
        var ids: [String] = []
        while let entry = try outbox.next() { ids.append(entry.message?.messageID ?? "?") }
        #expect(ids == (0..<20).map { "id-\($0)" })
    }

    @Test func failsThePublishWhenTheOutboxIsFull() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let bus = AMQPEventBus(configuration: self.configuration(directory, maxMessages: 3), serviceName: "svc", logger: quietLogger)
        try await self.withRunningBus(bus) {
            for index in 0..<3 { try await bus.publish(self.message(index)) }
            await #expect(throws: AMQPBusError.outboxFull(limit: 3)) { try await bus.publish(self.message(3)) }
        }
    }

    @Test func countsTheOutboxInItsMetrics() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let metrics = ServiceMetrics(service: "svc")
        let bus = AMQPEventBus(configuration: self.configuration(directory), serviceName: "svc", logger: quietLogger, metrics: metrics)
        try await self.withRunningBus(bus) {
            for index in 0..<2 { try await bus.publish(self.message(index)) }
        }
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("amqp_outbox_messages{service=\"svc\"} 2"))
        #expect(text.contains("amqp_connection_up{service=\"svc\",connection=\"publisher\"} 0"))
    }

    @Test func aConsumerWaitsForTheBrokerUntilCancelled() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let bus = AMQPEventBus(configuration: self.configuration(directory), serviceName: "svc", logger: quietLogger)
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await bus.consume(queue: "q", prefetch: 4) { _ in .ack } }
            try? await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
        }
        // Without cancellation it would wait for ever; a loaded 2-core machine once stretched the 300 ms to 3.3 s.
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
