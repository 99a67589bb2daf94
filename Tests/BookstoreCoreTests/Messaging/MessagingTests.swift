import BookstoreCore
import Logging
import Synchronization
import Testing

@Suite struct TopicPatternTests {
    @Test(arguments: [
        ("payment.completed", "payment.completed", true), ("payment.*", "payment.completed", true), ("payment.*", "payment.a.b", false),
        ("payment.#", "payment.a.b", true), ("payment.#", "payment", true), ("#", "anything.at.all", true),
        ("*.completed", "payment.completed", true),
        ("payment.completed", "payment.failed", false), ("#.refunded", "payment.refunded", true), ("a.#.z", "a.z", true), ("a.#.z", "a.b.c.z", true),
    ])
    func matchesLikeRabbitMQ(_ pattern: String, _ key: String, _ expected: Bool) {
        #expect(TopicPattern.matches(pattern: pattern, routingKey: key) == expected)
    }
}

@Suite struct InProcessEventBusTests {
    @Test func routesByTopicAndKeepsUnroutedMessages() async throws {
        let bus = InProcessEventBus()
        try await bus.declareExchanges(["ex"])
        try await bus.declareQueue(QueueSpec(name: "q1", bindings: [.init(exchange: "ex", pattern: "a.*")]))
        try await bus.declareQueue(QueueSpec(name: "q2", bindings: [.init(exchange: "ex", pattern: "#")]))
        try await bus.publish(EventMessage(exchange: "ex", routingKey: "a.b", body: Array("1".utf8)))
        try await bus.publish(EventMessage(exchange: "ex", routingKey: "c", body: Array("2".utf8)))
        try await bus.publish(EventMessage(exchange: "other", routingKey: "x", body: Array("3".utf8)))
        #expect(bus.pendingMessages(in: "q1").map(\.body) == [Array("1".utf8)])
        #expect(bus.pendingMessages(in: "q2").map(\.body) == [Array("1".utf8), Array("2".utf8)])
        #expect(bus.pendingMessages(in: Exchanges.unroutedQueue).map(\.body) == [Array("3".utf8)])
    }

    @Test func consumerRetriesThenDeadLettersAndDeduplicates() async throws {
        let bus = InProcessEventBus()
        let metrics = ServiceMetrics(service: "test")
        let attempts = Mutex<[String: Int]>([:])
        let consumer = EventConsumer(
            bus: bus,
            queue: QueueSpec(name: "work", bindings: [.init(exchange: "ex", pattern: "job.#")]),
            policy: .init(maxAttempts: 3, baseDelay: .milliseconds(5), prefetch: 2),
            metrics: metrics,
            logger: Logger(label: "test")
        ) { message in
            let body = String(decoding: message.body, as: UTF8.self)
            attempts.withLock { $0[body, default: 0] += 1 }
            if body == "poison" { throw PermanentEventError("unparseable") }
            if body == "flaky" { throw CancellationError() }
        }
        try await bus.declareExchanges(["ex"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            try await Task.sleep(for: .milliseconds(20))
            let ok = EventMessage(exchange: "ex", routingKey: "job.ok", body: Array("ok".utf8))
            try await bus.publish(ok)
            try await bus.publish(ok)  // redelivery of the same message_id
            try await bus.publish(EventMessage(exchange: "ex", routingKey: "job.x", body: Array("poison".utf8)))
            try await bus.publish(EventMessage(exchange: "ex", routingKey: "job.y", body: Array("flaky".utf8)))
            let deadline = ContinuousClock.now + .seconds(5)
            while bus.pendingMessages(in: "work.dlq").count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            group.cancelAll()
        }
        let dlq = bus.pendingMessages(in: "work.dlq")
        #expect(Set(dlq.map { String(decoding: $0.body, as: UTF8.self) }) == ["poison", "flaky"])
        #expect(dlq.first { String(decoding: $0.body, as: UTF8.self) == "flaky" }?.attempt == 3)
        let counts = attempts.withLock { $0 }
        #expect(counts["ok"] == 1, "the duplicate is acknowledged without processing")
        #expect(counts["poison"] == 1)
        #expect(counts["flaky"] == 3)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"messages_dead_lettered_total{service="test",queue="work"} 2"#))
        #expect(text.contains(#"messages_consumed_total{service="test",queue="work",outcome="duplicate"} 1"#))
    }
}
