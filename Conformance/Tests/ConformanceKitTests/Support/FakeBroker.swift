import ConformanceKit
import Foundation
import Hummingbird
import JSONKit
import Synchronization

/// A stand-in for the RabbitMQ management API with a payment service consuming `payment_requests` behind it:
/// queues, topic bindings, publish, get. Switchable defects: a consumer that drops every n-th request, and one that
/// silently discards poison messages instead of dead-lettering them.
final class FakeBroker: Sendable {
    struct Defects: Sendable {
        /// Drop every n-th payment request (no reply).
        var dropsEvery: Int?
        /// Discard invalid JSON instead of parking it in `payment_requests.dlq`.
        var losesPoison = false
    }

    struct Message: Sendable {
        var exchange: String
        var routingKey: String
        var payload: String
        var properties: JSON
    }

    struct State: Sendable {
        var queues: [String: [Message]] = ["payment_requests.dlq": [], "payment_responses": []]
        var bindings: [(exchange: String, pattern: String, queue: String)] = [("payment_exchange", "payment.response", "payment_responses")]
        var requests = 0
        var seenMessageIDs: Set<String> = []
    }

    let defects: Defects
    private let state = Mutex(State())

    init(defects: Defects = Defects()) {
        self.defects = defects
    }

    /// AMQP topic matching: `*` one word, `#` zero or more.
    static func matches(_ pattern: String, _ key: String) -> Bool {
        func match(_ pattern: ArraySlice<Substring>, _ key: ArraySlice<Substring>) -> Bool {
            guard let first = pattern.first else { return key.isEmpty }
            if first == "#" {
                return (0...key.count).contains { match(pattern.dropFirst(), key.dropFirst($0)) }
            }
            guard let word = key.first, first == "*" || first == word else { return false }
            return match(pattern.dropFirst(), key.dropFirst())
        }
        return match(
            ArraySlice(pattern.split(separator: ".", omittingEmptySubsequences: false)),
            ArraySlice(key.split(separator: ".", omittingEmptySubsequences: false))
        )
    }

    /// Routes a message; returns whether some queue got it.
    private func route(_ message: Message, in state: inout State) -> Bool {
        if message.exchange.isEmpty || message.exchange == "amq.default" {
            guard state.queues[message.routingKey] != nil else { return false }
            state.queues[message.routingKey]?.append(message)
            return true
        }
        var routed = false
        for binding in state.bindings where binding.exchange == message.exchange && Self.matches(binding.pattern, message.routingKey) {
            state.queues[binding.queue, default: []].append(message)
            routed = true
        }
        if message.exchange == "payment_exchange" && message.routingKey == "payment.request" {
            self.consume(message, in: &state)
            routed = true
        }
        return routed
    }

    /// The payment service's consumer of `payment_requests`.
    private func consume(_ message: Message, in state: inout State) {
        let messageID = message.properties["message_id"]?.stringValue ?? UUID().uuidString
        guard state.seenMessageIDs.insert(messageID).inserted else { return }
        guard let request = try? JSON.parse(message.payload), case .object = request else {
            if !self.defects.losesPoison { state.queues["payment_requests.dlq", default: []].append(message) }
            return
        }
        state.requests += 1
        if let every = self.defects.dropsEvery, state.requests % every == 0 { return }
        let payload: JSON = [
            "order_id": request["order_id"] ?? nil, "payment_id": .string(UUID().uuidString.lowercased()), "status": "completed",
            "message": "Payment processed", "timestamp": .string(FakeBookstore.timestamp()),
        ]
        let reply = Message(
            exchange: "",
            routingKey: message.properties["reply_to"]?.stringValue ?? "payment.response",
            payload: payload.text,
            properties: [
                "message_id": .string(UUID().uuidString), "correlation_id": message.properties["correlation_id"] ?? .string(messageID),
                "content_type": "application/json", "delivery_mode": 2, "timestamp": .int(Int(Date().timeIntervalSince1970)),
                "headers": [
                    "X-Request-ID": message.properties["headers"]?["X-Request-ID"] ?? "none",
                    "traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
                ],
            ]
        )
        if message.properties["reply_to"]?.stringValue != nil {
            _ = self.route(reply, in: &state)
        } else {
            var published = reply
            published.exchange = "payment_exchange"
            _ = self.route(published, in: &state)
        }
    }

    var router: Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/api/overview") { _, _ in Response.json(["rabbitmq_version": "fake"]) }
        router.put("/api/queues/:vhost/:queue") { _, context in
            let queue = context.parameters.get("queue") ?? ""
            self.state.withLock { state in if state.queues[queue] == nil { state.queues[queue] = [] } }
            return Response(status: .created)
        }
        router.get("/api/queues/:vhost/:queue") { _, context in
            let queue = context.parameters.get("queue") ?? ""
            guard let messages = self.state.withLock({ $0.queues[queue] }) else {
                return Response.json(["error": "Object Not Found"], status: .notFound)
            }
            return Response.json(["name": .string(queue), "messages": .int(messages.count)])
        }
        router.delete("/api/queues/:vhost/:queue") { _, context in
            let queue = context.parameters.get("queue") ?? ""
            self.state.withLock { state in
                state.queues[queue] = nil
                state.bindings.removeAll { $0.queue == queue }
            }
            return Response(status: .noContent)
        }
        router.post("/api/bindings/:vhost/e/:exchange/q/:queue") { request, context in
            let body = try await request.json()
            let binding = (context.parameters.get("exchange") ?? "", body?["routing_key"]?.stringValue ?? "", context.parameters.get("queue") ?? "")
            self.state.withLock { $0.bindings.append(binding) }
            return Response(status: .created)
        }
        router.post("/api/exchanges/:vhost/:exchange/publish") { request, context in
            let body = try await request.json()
            let exchange = context.parameters.get("exchange") ?? ""
            let message = Message(
                exchange: exchange == "amq.default" ? "" : exchange,
                routingKey: body?["routing_key"]?.stringValue ?? "",
                payload: body?["payload"]?.stringValue ?? "",
                properties: body?["properties"] ?? [:]
            )
            let routed = self.state.withLock { self.route(message, in: &$0) }
            return Response.json(["routed": .bool(routed)])
        }
        router.post("/api/queues/:vhost/:queue/get") { request, context in
            let body = try await request.json()
            let queue = context.parameters.get("queue") ?? ""
            let count = body?["count"]?.intValue ?? 1
            let requeue = body?["ackmode"]?.stringValue == "ack_requeue_true"
            let messages = self.state.withLock { state -> [Message] in
                let taken = Array((state.queues[queue] ?? []).prefix(count))
                if !requeue { state.queues[queue]?.removeFirst(taken.count) }
                return taken
            }
            return Response.json(
                .array(
                    messages.map { message in
                        [
                            "exchange": .string(message.exchange), "routing_key": .string(message.routingKey), "payload": .string(message.payload),
                            "payload_encoding": "string", "properties": message.properties, "redelivered": false,
                        ]
                    }
                )
            )
        }
        return router
    }
}
