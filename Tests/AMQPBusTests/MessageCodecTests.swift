import BookstoreCore
import CRabbitMQ
import Foundation
import Testing

@testable import AMQPBus

@Suite struct MessageCodecTests {
    private let message = EventMessage(
        exchange: "payment_exchange",
        routingKey: "payment.completed",
        body: Array("{\"id\":\"p-1\"}".utf8),
        messageID: "m-1",
        correlationID: "c-1",
        timestamp: Date(timeIntervalSince1970: 1_700_000_000.456),
        contentType: "application/json",
        replyTo: "payment_responses",
        headers: ["X-Request-ID": "r-1", "traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01", "x-attempt": "2"]
    )

    @Test func publishesPersistentlyWithEveryPropertyAndHeader() {
        let outgoing = MessageCodec.outgoing(self.message, appID: "payment-service")
        #expect(outgoing.exchange == "payment_exchange")
        #expect(outgoing.routingKey == "payment.completed")
        #expect(!outgoing.mandatory)
        #expect(outgoing.body == self.message.body)
        let properties = outgoing.properties
        #expect(properties.deliveryMode == 2)
        #expect(properties.messageID == "m-1")
        #expect(properties.correlationID == "c-1")
        #expect(properties.contentType == "application/json")
        #expect(properties.replyTo == "payment_responses")
        #expect(properties.timestamp == 1_700_000_000)
        #expect(properties.appID == "payment-service")
        #expect(properties.headers.map(\.key) == ["X-Request-ID", "traceparent", "x-attempt", "timestamp_in_ms"])
        #expect(properties.headers.last?.value == .int64(1_700_000_000_456))
    }

    @Test func defaultExchangePublishesAreMandatory() {
        var direct = self.message
        direct.exchange = ""
        #expect(MessageCodec.outgoing(direct, appID: nil).mandatory)
    }

    @Test func aDeliveryBecomesTheMessageThatWasPublished() {
        let outgoing = MessageCodec.outgoing(self.message, appID: "svc")
        let delivered = MessageCodec.message(
            exchange: outgoing.exchange,
            routingKey: outgoing.routingKey,
            properties: outgoing.properties,
            body: outgoing.body
        )
        #expect(delivered == self.message)
        #expect(delivered.attempt == 2)
    }

    @Test func theCPropertiesCarryEverything() {
        let properties = MessageCodec.outgoing(self.message, appID: "svc").properties
        let arena = CArena()
        let c = arena.properties(properties)
        #expect(c.delivery_mode == 2)
        #expect(c.headers.num_entries == 4)
        #expect(CDecode.properties(c) == properties)
    }

    @Test func aMessageWithoutOptionalPropertiesRoundTrips() {
        let plain = EventMessage(exchange: "ex", routingKey: "k", body: [], timestamp: Date(timeIntervalSince1970: 12))
        let properties = MessageCodec.outgoing(plain, appID: nil).properties
        let arena = CArena()
        let decoded = CDecode.properties(arena.properties(properties))
        #expect(decoded.replyTo == nil)
        #expect(decoded.appID == nil)
        #expect(MessageCodec.message(exchange: "ex", routingKey: "k", properties: decoded, body: []) == plain)
    }

    @Test func aRetryCopyWaitsInTheRetryQueueAndComesBackAsTheSameMessage() {
        let copy = MessageCodec.retryCopy(of: self.message, queue: "reviews.payments", delay: .milliseconds(400), appID: "svc")
        #expect(copy.exchange == "")
        #expect(copy.routingKey == "reviews.payments.retry.400")
        #expect(copy.properties.messageID == "m-1")
        // The broker dead-letters it from the retry queue to the main queue, adding its own headers.
        var properties = copy.properties
        properties.headers.append((key: "x-first-death-queue", value: .string("reviews.payments.retry.400")))
        properties.headers.append((key: "x-first-death-reason", value: .string("expired")))
        let redelivered = MessageCodec.message(exchange: "", routingKey: "reviews.payments", properties: properties, body: copy.body)
        var expected = self.message
        expected.attempt = 3
        #expect(redelivered == expected)
    }

    @Test func aDeadLetterCopyExplainsItself() {
        let copy = MessageCodec.deadLetterCopy(of: self.message, queue: "reviews.payments", reason: "bad payload", appID: "svc")
        #expect(copy.exchange == "")
        #expect(copy.routingKey == "reviews.payments.dlq")
        let parked = MessageCodec.message(exchange: "", routingKey: "reviews.payments.dlq", properties: copy.properties, body: copy.body)
        #expect(parked.exchange == "payment_exchange")
        #expect(parked.routingKey == "payment.completed")
        #expect(parked.headers["x-death-reason"] == "bad payload")
        #expect(parked.headers["x-original-queue"] == "reviews.payments")
        #expect(parked.attempt == 2)
    }

    @Test func foreignMessagesAreReadLeniently() {
        // Another client: integer attempt header, no timestamp_in_ms, no content type or message id.
        let properties = WireProperties(
            timestamp: 1_600_000_000,
            headers: [(key: "x-attempt", value: .int64(4)), (key: "flag", value: .bool(true)), (key: "x-death", value: .string("ignored"))]
        )
        let message = MessageCodec.message(exchange: "ex", routingKey: "k", properties: properties, body: [1])
        #expect(message.attempt == 4)
        #expect(message.headers == ["x-attempt": "4", "flag": "true"])
        #expect(message.timestamp == Date(timeIntervalSince1970: 1_600_000_000))
        #expect(message.contentType == "application/octet-stream")
        #expect(!message.messageID.isEmpty)
        #expect(message.correlationID == message.messageID)
    }

    @Test func decodesEveryScalarFieldKind() {
        func field(_ kind: amqp_field_value_kind_t, _ set: (inout amqp_field_value_t) -> Void) -> amqp_field_value_t {
            var value = amqp_field_value_t()
            value.kind = UInt8(kind.rawValue)
            set(&value)
            return value
        }
        #expect(CDecode.value(field(AMQP_FIELD_KIND_I8) { $0.value.i8 = -3 }) == .int64(-3))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_U16) { $0.value.u16 = 65535 }) == .int64(65535))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_I32) { $0.value.i32 = -70000 }) == .int64(-70000))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_U64) { $0.value.u64 = UInt64.max }) == .string(String(UInt64.max)))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_BOOLEAN) { $0.value.boolean = 1 }) == .bool(true))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_F64) { $0.value.f64 = 1.5 }) == .string("1.5"))
        #expect(CDecode.value(field(AMQP_FIELD_KIND_TABLE) { _ in }) == nil)
        #expect(CDecode.value(field(AMQP_FIELD_KIND_ARRAY) { _ in }) == nil)
        #expect(CDecode.value(field(AMQP_FIELD_KIND_VOID) { _ in }) == nil)
    }
}

@Suite struct TopologyTests {
    @Test func exchangesAreTopicWithAnAlternateExchangeFeedingUnrouted() {
        #expect(
            Topology.exchangeDeclarations("payment_exchange") == [
                .exchange(name: "payment_exchange.unrouted", type: "fanout", arguments: [:]),
                .queue(name: "unrouted", arguments: [:]),
                .binding(queue: "unrouted", exchange: "payment_exchange.unrouted", pattern: ""),
                .exchange(name: "payment_exchange", type: "topic", arguments: ["alternate-exchange": .string("payment_exchange.unrouted")]),
            ]
        )
    }

    @Test func queuesDeadLetterToTheirDLQAndAreBound() {
        let spec = QueueSpec(
            name: "reviews.payments",
            bindings: [.init(exchange: "payment_exchange", pattern: "payment.*"), .init(exchange: "payment_exchange", pattern: "refund.#")]
        )
        let declarations = Topology.queueDeclarations(spec)
        #expect(declarations.filter { if case .exchange = $0 { true } else { false } }.count == 2)
        #expect(
            Array(declarations.suffix(4)) == [
                .queue(name: "reviews.payments.dlq", arguments: [:]),
                .queue(
                    name: "reviews.payments",
                    arguments: ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("reviews.payments.dlq")]
                ),
                .binding(queue: "reviews.payments", exchange: "payment_exchange", pattern: "payment.*"),
                .binding(queue: "reviews.payments", exchange: "payment_exchange", pattern: "refund.#"),
            ]
        )
        #expect(!declarations.contains { $0 == .queue(name: "bookstore.dead-letters", arguments: [:]) })
    }

    @Test func retryQueuesExpireBackIntoTheirQueue() {
        #expect(Topology.retryQueue(for: "q", delayMilliseconds: 200) == "q.retry.200")
        #expect(
            Topology.retryQueueArguments("q", delayMilliseconds: 200) == [
                "x-message-ttl": .int64(200), "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("q"),
            ]
        )
        #expect(Topology.milliseconds(.milliseconds(200)) == 200)
        #expect(Topology.milliseconds(.microseconds(1500)) == 2)
        #expect(Topology.milliseconds(.zero) == 1)
    }

    @Test func argumentsBecomeTypedCTables() {
        let arena = CArena()
        let table = arena.table(Topology.table(Topology.retryQueueArguments("q", delayMilliseconds: 800)))
        #expect(table.num_entries == 3)
        let entries = (0..<Int(table.num_entries)).map { table.entries[$0] }
        #expect(entries.map { CDecode.string($0.key) } == ["x-dead-letter-exchange", "x-dead-letter-routing-key", "x-message-ttl"])
        #expect(entries.map { $0.value.kind } == [UInt8(ascii: "S"), UInt8(ascii: "S"), UInt8(ascii: "l")])
        #expect(entries[2].value.value.i64 == 800)
        #expect(CDecode.table(table).map(\.value) == [.string(""), .string("q"), .int64(800)])
    }

    @Test func theRegistryDeclaresEverythingOnce() {
        let registry = TopologyRegistry()
        registry.add(exchanges: ["a", "b", "a"])
        registry.add(queue: QueueSpec(name: "q", bindings: [.init(exchange: "a", pattern: "#")]))
        let declarations = registry.declarations()
        #expect(declarations.count == Set(declarations.map { "\($0)" }).count)
        #expect(declarations.filter { $0 == .queue(name: "unrouted", arguments: [:]) }.count == 1)
        #expect(registry.spec(for: "q")?.bindings.count == 1)
    }
}
