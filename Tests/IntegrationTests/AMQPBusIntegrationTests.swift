import AMQPBus
import BookstoreCore
import Foundation
import JSONKit
import Synchronization
import Testing

/// The AMQP event bus against a real RabbitMQ (`BOOKSTORE_INTEGRATION=1`, settings from `RABBITMQ_*` or
/// `.data/infra.env`). Serialized: one test stops the broker.
@Suite(.enabled(if: AMQPTestEnvironment.isEnabled, "set BOOKSTORE_INTEGRATION=1 and start ci/infra"), .serialized)
struct AMQPBusIntegrationTests {
    private static func timestamp() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    @Test func publishAndConsumeCarryEveryPropertyAndHeader() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("props")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let queue = prefix + ".q"
        let inspect = prefix + ".inspect"
        let inbox = AMQPInbox()
        try await withAMQPTestBus { bus in
            try await bus.declareExchanges([exchange])
            try await bus.declareQueue(QueueSpec(name: queue, bindings: [.init(exchange: exchange, pattern: "order.*")]))
            try await bus.declareQueue(QueueSpec(name: inspect, bindings: [.init(exchange: exchange, pattern: "#")]))
            let sent = EventMessage(
                exchange: exchange,
                routingKey: "order.created",
                body: Array("{\"total\":19.90,\"note\":\"é\"}".utf8),
                messageID: "msg-\(prefix)",
                correlationID: "corr-\(prefix)",
                timestamp: Self.timestamp(),
                contentType: "application/json",
                replyTo: prefix + ".replies",
                headers: [
                    EventMessage.requestIDHeader: "req-1", EventMessage.traceHeader: TraceContext.traceparent(for: "req-1"), "custom": "value",
                ]
            )
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: queue, prefetch: 4) {
                        inbox.append($0)
                        return .ack
                    }
                }
            ]) {
                try await bus.publish(sent)
                let received = await inbox.wait(forCount: 1)
                #expect(received == [sent])
                #expect(received.first?.attempt == 1)
            }
            // What is on the wire, as the broker reports it.
            let raw = try #require(try AMQPManagement.getMessages(inspect).first)
            let properties = try #require(raw["properties"])
            #expect(properties["delivery_mode"]?.intValue == 2)
            #expect(properties["message_id"]?.stringValue == sent.messageID)
            #expect(properties["correlation_id"]?.stringValue == sent.correlationID)
            #expect(properties["content_type"]?.stringValue == "application/json")
            #expect(properties["reply_to"]?.stringValue == sent.replyTo)
            #expect(properties["timestamp"]?.intValue == Int(sent.timestamp.timeIntervalSince1970))
            #expect(properties["app_id"]?.stringValue == "amqp-itest")
            #expect(properties["headers"]?[EventMessage.requestIDHeader]?.stringValue == "req-1")
            #expect(properties["headers"]?[EventMessage.traceHeader]?.stringValue == sent.headers[EventMessage.traceHeader])
            #expect(raw["payload"]?.stringValue == "{\"total\":19.90,\"note\":\"é\"}")
            // The declared topology.
            let arguments = try AMQPManagement.queueArguments(queue)
            #expect(arguments["x-dead-letter-exchange"]?.stringValue == "")
            #expect(arguments["x-dead-letter-routing-key"]?.stringValue == queue + ".dlq")
            #expect(AMQPManagement.queueExists(queue + ".dlq"))
            let declared = try #require(try AMQPManagement.exchange(exchange))
            #expect(declared["type"]?.stringValue == "topic")
            #expect(declared["durable"]?.boolValue == true)
            #expect(declared["arguments"]?["alternate-exchange"]?.stringValue == exchange + ".unrouted")
            // Heartbeats were negotiated.
            let connection = try #require(try await AMQPManagement.waitForConnections(named: "amqp-itest publisher").first)
            #expect(connection["timeout"]?.intValue == 5)
        }
    }

    @Test func routesByTopicAndKeepsUnroutedMessages() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("routing")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let first = AMQPInbox()
        let second = AMQPInbox()
        try await withAMQPTestBus { bus in
            try await bus.declareExchanges([exchange])
            try await bus.declareQueue(QueueSpec(name: prefix + ".a", bindings: [.init(exchange: exchange, pattern: "a.*")]))
            try await bus.declareQueue(QueueSpec(name: prefix + ".z", bindings: [.init(exchange: exchange, pattern: "#.z")]))
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: prefix + ".a", prefetch: 8) {
                        first.append($0)
                        return .ack
                    }
                },
                {
                    try await bus.consume(queue: prefix + ".z", prefetch: 8) {
                        second.append($0)
                        return .ack
                    }
                },
            ]) {
                for key in ["a.x", "b.z", "a.z"] {
                    try await bus.publish(EventMessage(exchange: exchange, routingKey: key, body: Array(key.utf8)))
                }
                let unroutedIDs = ["\(prefix)-nobody", "\(prefix)-noqueue"]
                try await bus.publish(EventMessage(exchange: exchange, routingKey: "nobody.listens", body: [1], messageID: unroutedIDs[0]))
                // The default exchange to a queue that does not exist: returned by the broker, parked in `unrouted`.
                try await bus.publish(EventMessage(exchange: "", routingKey: prefix + ".missing", body: [2], messageID: unroutedIDs[1]))
                let a = await first.wait(forCount: 2)
                let z = await second.wait(forCount: 2)
                try await Task.sleep(for: .milliseconds(200))
                #expect(Set(a.map(\.routingKey)) == ["a.x", "a.z"])
                #expect(Set(z.map(\.routingKey)) == ["b.z", "a.z"])
                #expect(first.messages.count == 2 && second.messages.count == 2)
                var parked: [JSON] = []
                for _ in 0..<50 where parked.count < 2 {
                    parked = try AMQPManagement.takeUnrouted(messageIDs: Set(unroutedIDs))
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(Set(parked.compactMap { $0["properties"]?["message_id"]?.stringValue }) == Set(unroutedIDs))
            }
        }
    }

    @Test func aMessageFailingEveryTimeLandsInTheDLQAfterTheRetryDelays() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("dlq")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let spec = QueueSpec(name: prefix + ".q", bindings: [.init(exchange: exchange, pattern: "#")])
        let attempts = Mutex<[(attempt: Int, at: ContinuousClock.Instant)]>([])
        let metrics = ServiceMetrics(service: "amqp-itest")
        let policy = EventConsumer.Policy(maxAttempts: 4, baseDelay: .milliseconds(200), prefetch: 4)
        try await withAMQPTestBus { bus in
            try await bus.declareExchanges([exchange])
            let consumer = EventConsumer(bus: bus, queue: spec, policy: policy, metrics: metrics, logger: AMQPTestEnvironment.logger) {
                message in
                attempts.withLock { $0.append((message.attempt, ContinuousClock.now)) }
                struct Failure: Error {}
                throw Failure()
            }
            try await withAMQPBackground([{ try await consumer.run() }]) {
                try await bus.declareQueue(spec)
                try await bus.publish(EventMessage(exchange: exchange, routingKey: "job.run", body: Array("{}".utf8), messageID: prefix + "-m"))
                var parked: [JSON] = []
                let deadline = ContinuousClock.now + .seconds(20)
                while parked.isEmpty, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    parked = try AMQPManagement.getMessages(spec.deadLetterQueue)
                }
                let seen = attempts.withLock { $0 }
                #expect(seen.map(\.attempt) == [1, 2, 3, 4])
                var measured: [Duration] = []
                for index in 1..<seen.count {
                    let gap = seen[index].at - seen[index - 1].at
                    let expected = policy.delay(afterAttempt: seen[index - 1].attempt)
                    measured.append(gap)
                    #expect(gap >= expected - .milliseconds(20), "retry \(index) came after \(gap), expected \(expected)")
                    #expect(gap <= expected + .milliseconds(1500), "retry \(index) came after \(gap), expected \(expected)")
                }
                print("AMQP retry delays measured (expected 200, 400, 800 ms): \(measured.map { "\($0)" }.joined(separator: ", "))")
                let message = try #require(parked.first)
                #expect(parked.count == 1)
                #expect(message["properties"]?["message_id"]?.stringValue == prefix + "-m")
                #expect(message["properties"]?["headers"]?["x-death-reason"]?.stringValue == "failed after 4 attempts")
                #expect(message["properties"]?["headers"]?["x-original-queue"]?.stringValue == spec.name)
                #expect(message["properties"]?["headers"]?["x-attempt"]?.stringValue == "4")
                #expect(AMQPManagement.queueExists(spec.name + ".retry.200"))
                #expect(try AMQPManagement.queueArguments(spec.name + ".retry.400")["x-message-ttl"]?.intValue == 400)
            }
        }
    }

    @Test(.enabled(if: AMQPBrokerControl.isAvailable, "needs RABBITMQ_CTL or `ci/infra rabbitmqctl`"))
    func noLossAndNoDoubleProcessingAcrossABrokerRestart() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("restart")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let spec = QueueSpec(name: prefix + ".q", bindings: [.init(exchange: exchange, pattern: "#")])
        let processed = Mutex<[String: Int]>([:])
        let metrics = ServiceMetrics(service: "amqp-itest")
        let total = 200
        try await withAMQPTestBus(metrics: metrics) { bus in
            try await bus.declareExchanges([exchange])
            let consumer = EventConsumer(
                bus: bus,
                queue: spec,
                policy: .init(maxAttempts: 5, baseDelay: .milliseconds(100), prefetch: 8),
                metrics: metrics,
                logger: AMQPTestEnvironment.logger
            ) { message in
                try await Task.sleep(for: .milliseconds(5))
                processed.withLock { $0[message.messageID, default: 0] += 1 }
            }
            try await withAMQPBackground([{ try await consumer.run() }]) {
                try await bus.declareQueue(spec)
                for index in 0..<(total / 2) {
                    try await bus.publish(EventMessage(exchange: exchange, routingKey: "n.\(index)", body: [], messageID: "\(prefix)-\(index)"))
                }
                let stopped = ContinuousClock.now
                try AMQPBrokerControl.run("stop_app")
                // While the broker is down, publishes still succeed (into the outbox), without waiting long.
                var slowest = Duration.zero
                for index in (total / 2)..<total {
                    let started = ContinuousClock.now
                    try await bus.publish(EventMessage(exchange: exchange, routingKey: "n.\(index)", body: [], messageID: "\(prefix)-\(index)"))
                    slowest = max(slowest, ContinuousClock.now - started)
                }
                let depthWhileDown = await bus.outboxDepth()
                let healthyWhileDown = await bus.isHealthy()
                try AMQPBrokerControl.run("start_app")
                let started = ContinuousClock.now
                var healthyAgain: Duration?
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    if healthyAgain == nil, await bus.isHealthy() { healthyAgain = ContinuousClock.now - started }
                    if processed.withLock({ $0.count }) == total, await bus.outboxDepth() == 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let allDone = ContinuousClock.now - started
                try await Task.sleep(for: .seconds(1))  // late duplicates would show up here
                let counts = processed.withLock { $0 }
                #expect(depthWhileDown == total / 2)
                #expect(!healthyWhileDown)
                #expect(counts.count == total, "lost \(total - counts.count) messages")
                #expect(counts.values.allSatisfy { $0 == 1 }, "processed twice: \(counts.filter { $0.value > 1 }.keys.sorted())")
                #expect(await bus.outboxDepth() == 0)
                #expect(slowest < .seconds(2))
                print(
                    "AMQP broker restart: down for \(started - stopped), slowest publish while down \(slowest), healthy again after "
                        + "\(healthyAgain.map { "\($0)" } ?? "never"), all \(total) processed after \(allDone)"
                )
            }
        }
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("amqp_reconnects_total{service=\"amqp-itest\",connection=\"publisher\"}"))
    }

    /// A broker memory alarm (watermark 0) blocks publishers. Before, a publish then waited for a confirm that could
    /// not come (the confirm timeout, 5 s, per request); now `connection.blocked` sends publishes to the outbox at once,
    /// and they are delivered once the alarm clears.
    @Test(.enabled(if: AMQPBrokerControl.isAvailable, "needs RABBITMQ_CTL or `ci/infra rabbitmqctl`"))
    func aBrokerThatBlocksPublishersHoldsNoPublishAndLosesNothing() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("blocked")
        defer {
            try? AMQPBrokerControl.run("set_vm_memory_high_watermark", "0.4")
            AMQPManagement.deleteEverything(startingWith: prefix)
        }
        let exchange = prefix + ".ex"
        let spec = QueueSpec(name: prefix + ".q", bindings: [.init(exchange: exchange, pattern: "#")])
        let total = 6
        try await withAMQPTestBus { bus in
            try await bus.declareExchanges([exchange])
            try await bus.declareQueue(spec)
            try await bus.publish(EventMessage(exchange: exchange, routingKey: "n.0", body: [], messageID: "\(prefix)-0"))
            try AMQPBrokerControl.run("set_vm_memory_high_watermark", "0")
            try await Task.sleep(for: .seconds(2))  // the alarm is raised at the next memory check
            var slowest = Duration.zero
            for index in 1..<total {
                let started = ContinuousClock.now
                try await bus.publish(EventMessage(exchange: exchange, routingKey: "n.\(index)", body: [], messageID: "\(prefix)-\(index)"))
                slowest = max(slowest, ContinuousClock.now - started)
            }
            let healthyWhileBlocked = await bus.isHealthy()
            try AMQPBrokerControl.run("set_vm_memory_high_watermark", "0.4")
            let deadline = ContinuousClock.now + .seconds(60)
            var delivered: Set<String> = []
            while ContinuousClock.now < deadline, delivered.count < total {
                for message in try AMQPManagement.getMessages(spec.name, count: 100) {
                    if let id = message["properties"]?["message_id"]?.stringValue { delivered.insert(id) }
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(slowest < .seconds(2), "a publish waited \(slowest) while the broker blocked publishers")
            #expect(!healthyWhileBlocked, "a blocked broker is reported")
            #expect(delivered == Set((0..<total).map { "\(prefix)-\($0)" }), "delivered after the alarm: \(delivered.sorted())")
            print("AMQP broker alarm: slowest publish while blocked \(slowest)")
        }
    }

    /// A message the broker returns (no such queue) is parked in `unrouted`; when the broker refuses that copy too (a
    /// policy here: `unrouted` takes nothing, `reject-publish`), the copy must stay in the outbox and arrive once the
    /// queue takes messages again. Before, the parked copy had no message kept with it and was lost on the nack.
    @Test(.enabled(if: AMQPBrokerControl.isAvailable, "needs RABBITMQ_CTL or `ci/infra rabbitmqctl`"))
    func aReturnedMessageThatCannotBeParkedIsKeptInTheOutbox() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("returned")
        let policy = prefix + ".full-unrouted"
        defer { try? AMQPBrokerControl.run("clear_policy", policy) }
        let id = prefix + "-returned"
        try await withAMQPTestBus { bus in
            try await bus.publish(EventMessage(exchange: "", routingKey: prefix + ".warm-up", body: [0], messageID: prefix + "-warm-up"))
            try AMQPBrokerControl.run(
                "set_policy",
                "--apply-to",
                "queues",
                "--priority",
                "100",
                policy,
                "^unrouted$",
                #"{"max-length":0,"overflow":"reject-publish"}"#
            )
            try await Task.sleep(for: .seconds(1))
            try await bus.publish(EventMessage(exchange: "", routingKey: prefix + ".missing", body: [1], messageID: id))
            var kept = false
            let keepDeadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < keepDeadline {
                if await bus.outboxDepth() > 0 {
                    kept = true
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try AMQPBrokerControl.run("clear_policy", policy)
            var parked: [JSON] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, parked.isEmpty {
                parked = try AMQPManagement.takeUnrouted(messageIDs: [id])
                if parked.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(kept, "the refused copy went to the outbox")
            #expect(!parked.isEmpty, "the returned message reached unrouted once it took messages again")
        }
    }

    @Test func redeliveryAfterALostConnectionIsIdempotent() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("redeliver")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let spec = QueueSpec(name: prefix + ".q", bindings: [.init(exchange: exchange, pattern: "#")])
        let processed = Mutex<[String: Int]>([:])
        let gate = Mutex(false)
        let metrics = ServiceMetrics(service: "amqp-itest")
        let total = 20
        try await withAMQPTestBus(metrics: metrics) { bus in
            try await bus.declareExchanges([exchange])
            let consumer = EventConsumer(
                bus: bus,
                queue: spec,
                policy: .init(maxAttempts: 5, baseDelay: .milliseconds(100), prefetch: 4),
                metrics: metrics,
                logger: AMQPTestEnvironment.logger
            ) { message in
                processed.withLock { $0[message.messageID, default: 0] += 1 }
                // Hold the first deliveries until their connection is gone: they are processed but never acked.
                while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
            }
            try await withAMQPBackground([{ try await consumer.run() }]) {
                try await bus.declareQueue(spec)
                for index in 0..<total {
                    try await bus.publish(EventMessage(exchange: exchange, routingKey: "k", body: [], messageID: "\(prefix)-\(index)"))
                }
                // The same message published twice (an outbox resend after a lost confirm looks like this).
                try await bus.publish(EventMessage(exchange: exchange, routingKey: "k", body: [], messageID: "\(prefix)-0"))
                let deadline = ContinuousClock.now + .seconds(10)
                while processed.withLock({ $0.count }) < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(bus.connectionLosses == 0)
                #expect(try await AMQPManagement.closeConnections(named: "consumer \(spec.name)") == 1)
                try await Task.sleep(for: .milliseconds(300))
                gate.withLock { $0 = true }
                let end = ContinuousClock.now + .seconds(20)
                while processed.withLock({ $0.count }) < total, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
                try await Task.sleep(for: .seconds(1))
            }
        }
        let counts = processed.withLock { $0 }
        #expect(counts.count == total)
        #expect(counts.values.allSatisfy { $0 == 1 }, "processed twice: \(counts.filter { $0.value > 1 }.keys.sorted())")
        let text = String(decoding: metrics.render(), as: UTF8.self)
        let duplicates = text.split(separator: "\n").first { $0.contains("messages_consumed_total") && $0.contains("outcome=\"duplicate\"") }
        let duplicateCount = duplicates.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        // The 4 held deliveries came back after the connection was killed, plus the republished message.
        #expect(duplicateCount >= 5)
        #expect(text.contains("amqp_reconnects_total{service=\"amqp-itest\",connection=\"consumer\"} 1"))
    }

    /// The bus counts every connection it loses, the consumer's (which notices a close at once, blocked reading) as
    /// well as the publisher's (which notices it at its next publish): what a fault planted "after a connection
    /// close" trips on.
    @Test func everyLostConnectionIsCounted() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("losses")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let queue = prefix + ".q"
        let inbox = AMQPInbox()
        try await withAMQPTestBus(serviceName: prefix) { bus in
            try await bus.declareQueue(QueueSpec(name: queue, bindings: []))
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: queue, prefetch: 4) {
                        inbox.append($0)
                        return .ack
                    }
                }
            ]) {
                try await bus.publish(EventMessage(exchange: "", routingKey: queue, body: [1], messageID: "before"))
                #expect(await inbox.wait(forCount: 1).count == 1)
                #expect(bus.connectionLosses == 0)
                #expect(try await AMQPManagement.closeConnections(named: "\(prefix) consumer") == 1)
                let deadline = ContinuousClock.now + .seconds(10)
                while bus.connectionLosses == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(bus.connectionLosses == 1, "the consumer noticed the close")
                #expect(try await AMQPManagement.closeConnections(named: "\(prefix) publisher") == 1)
                try await bus.publish(EventMessage(exchange: "", routingKey: queue, body: [2], messageID: "after"))
                #expect(await inbox.wait(forCount: 2).map(\.messageID) == ["before", "after"])
                let end = ContinuousClock.now + .seconds(10)
                while bus.connectionLosses < 2, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
                #expect(bus.connectionLosses == 2, "the publisher noticed the close")
            }
        }
    }

    @Test func aConnectionClosedByTheBrokerDoesNotCostTheNextPublish() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("idle")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let queue = prefix + ".q"
        let inbox = AMQPInbox()
        try await withAMQPTestBus(serviceName: prefix) { bus in
            try await bus.declareQueue(QueueSpec(name: queue, bindings: []))
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: queue, prefetch: 4) {
                        inbox.append($0)
                        return .ack
                    }
                }
            ]) {
                try await bus.publish(EventMessage(exchange: "", routingKey: queue, body: [1], messageID: "before"))
                #expect(await inbox.wait(forCount: 1).count == 1)
                #expect(await bus.isHealthy())
                #expect(try await AMQPManagement.closeConnections(named: "\(prefix) publisher") == 1)
                // Publish at once: whether or not the bus has noticed the close yet, the message must arrive.
                let started = ContinuousClock.now
                try await bus.publish(EventMessage(exchange: "", routingKey: queue, body: [2], messageID: "after"))
                let publishTook = ContinuousClock.now - started
                let received = await inbox.wait(forCount: 2)
                let deliveredAfter = ContinuousClock.now - started
                #expect(received.map(\.messageID) == ["before", "after"])
                #expect(await bus.isHealthy())
                // A message that went through the outbox is removed from it once the broker confirmed it, which can
                // trail its delivery to the consumer by a moment.
                let deadline = ContinuousClock.now + .seconds(5)
                while await bus.outboxDepth() > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(await bus.outboxDepth() == 0)
                print("AMQP publish right after the broker closed the connection: returned after \(publishTook), delivered after \(deliveredAfter)")
            }
        }
    }

    @Test func theOutboxOfAnEarlierRunIsSentInOrderAtTheNextStart() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("outbox")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let folder = NSTemporaryDirectory() + prefix
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let queue = QueueSpec(name: prefix + ".q", bindings: [])
        // A first run that never reaches the broker (nothing listens on port 1).
        let offline = AMQPEventBus(
            configuration: AMQPConfiguration(port: 1, outboxDirectory: folder),
            serviceName: prefix,
            logger: AMQPTestEnvironment.logger
        )
        try await withAMQPBackground([{ try await offline.run() }]) {
            for index in 0..<5 {
                try await offline.publish(EventMessage(exchange: "", routingKey: queue.name, body: [UInt8(index)], messageID: "\(prefix)-\(index)"))
            }
            #expect(await offline.outboxDepth() == 5)
        }
        // The next run, with the broker up, sends them before anything else.
        let inbox = AMQPInbox()
        try await withAMQPTestBus(serviceName: prefix, outbox: folder) { bus in
            try await bus.declareQueue(queue)
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: queue.name, prefetch: 1) {
                        inbox.append($0)
                        return .ack
                    }
                }
            ]) {
                try await bus.publish(EventMessage(exchange: "", routingKey: queue.name, body: [9], messageID: "\(prefix)-new"))
                let received = await inbox.wait(forCount: 6)
                #expect(received.map(\.messageID) == (0..<5).map { "\(prefix)-\($0)" } + ["\(prefix)-new"])
                #expect(await bus.outboxDepth() == 0)
            }
        }
    }

    @Test func requestAndReplyThroughReplyTo() async throws {
        let prefix = AMQPTestEnvironment.uniqueName("rpc")
        defer { AMQPManagement.deleteEverything(startingWith: prefix) }
        let exchange = prefix + ".ex"
        let requests = QueueSpec(name: prefix + ".requests", bindings: [.init(exchange: exchange, pattern: "payment.request")])
        let replies = QueueSpec(name: prefix + ".replies", bindings: [])
        let inbox = AMQPInbox()
        try await withAMQPTestBus { bus in
            try await bus.declareExchanges([exchange])
            try await bus.declareQueue(requests)
            try await bus.declareQueue(replies)
            try await withAMQPBackground([
                {
                    try await bus.consume(queue: requests.name, prefetch: 4) { request in
                        guard let replyTo = request.replyTo else { return .deadLetter(reason: "no reply_to") }
                        let reply = EventMessage(
                            exchange: "",
                            routingKey: replyTo,
                            body: Array("{\"status\":\"ok\"}".utf8),
                            correlationID: request.correlationID,
                            headers: [EventMessage.requestIDHeader: request.headers[EventMessage.requestIDHeader] ?? ""]
                        )
                        do {
                            try await bus.publish(reply)
                            return .ack
                        } catch {
                            return .retry(after: .milliseconds(100))
                        }
                    }
                },
                {
                    try await bus.consume(queue: replies.name, prefetch: 4) {
                        inbox.append($0)
                        return .ack
                    }
                },
            ]) {
                try await bus.publish(
                    EventMessage(
                        exchange: exchange,
                        routingKey: "payment.request",
                        body: Array("{\"amount\":\"5.00\"}".utf8),
                        correlationID: prefix + "-corr",
                        replyTo: replies.name,
                        headers: [EventMessage.requestIDHeader: "req-rpc"]
                    )
                )
                let reply = try #require(await inbox.wait(forCount: 1).first)
                #expect(reply.correlationID == prefix + "-corr")
                #expect(reply.routingKey == replies.name)
                #expect(reply.headers[EventMessage.requestIDHeader] == "req-rpc")
                #expect(reply.body == Array("{\"status\":\"ok\"}".utf8))
            }
        }
    }
}
