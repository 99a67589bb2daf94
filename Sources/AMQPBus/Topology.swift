import BookstoreCore

/// A value of an AMQP field table (arguments and message headers), as far as the bus writes them.
enum FieldValue: Sendable, Equatable {
    case string(String)
    case int64(Int64)
    case bool(Bool)
}

/// An ordered AMQP field table.
typealias FieldTable = [(key: String, value: FieldValue)]

/// One declaration of the topology of SPEC §6, in the order it must be made.
enum Declaration: Sendable, Equatable {
    case exchange(name: String, type: String, arguments: [String: FieldValue])
    case queue(name: String, arguments: [String: FieldValue])
    case binding(queue: String, exchange: String, pattern: String)
}

/// The names and arguments of the messaging topology (SPEC §6).
///
/// Every exchange is a durable topic exchange whose `alternate-exchange` is `<exchange>.unrouted`, a durable fanout
/// exchange bound to the durable `unrouted` queue. Every consumer queue `q` dead-letters (broker-side rejections)
/// to `q.dlq` through the default exchange; a retry after `d` ms goes through `q.retry.<d>`, whose messages expire
/// after `d` ms back into `q`.
enum Topology {
    static let unroutedQueue = Exchanges.unroutedQueue

    static func alternateExchange(for exchange: String) -> String { exchange + ".unrouted" }

    static func deadLetterQueue(for queue: String) -> String { queue + ".dlq" }

    static func retryQueue(for queue: String, delayMilliseconds: Int64) -> String { "\(queue).retry.\(delayMilliseconds)" }

    /// A retry delay in whole milliseconds (at least 1, so a retry never re-enters the queue in a hot loop).
    static func milliseconds(_ delay: Duration) -> Int64 {
        max(1, (Backoff.nanoseconds(delay) + 999_999) / 1_000_000)
    }

    /// The declarations for topic exchange `name`: its alternate exchange, the `unrouted` queue and its binding.
    static func exchangeDeclarations(_ name: String) -> [Declaration] {
        let alternate = self.alternateExchange(for: name)
        return [
            .exchange(name: alternate, type: "fanout", arguments: [:]),
            .queue(name: self.unroutedQueue, arguments: [:]),
            .binding(queue: self.unroutedQueue, exchange: alternate, pattern: ""),
            .exchange(name: name, type: "topic", arguments: ["alternate-exchange": .string(alternate)]),
        ]
    }

    /// The declarations for consumer queue `spec`: its exchanges, the dead-letter queue, the queue and its bindings.
    static func queueDeclarations(_ spec: QueueSpec) -> [Declaration] {
        var declarations: [Declaration] = []
        var exchanges: [String] = []
        for binding in spec.bindings where !binding.exchange.isEmpty && !exchanges.contains(binding.exchange) {
            exchanges.append(binding.exchange)
            declarations += self.exchangeDeclarations(binding.exchange)
        }
        declarations.append(.queue(name: self.deadLetterQueue(for: spec.name), arguments: [:]))
        declarations.append(.queue(name: spec.name, arguments: self.mainQueueArguments(spec.name)))
        for binding in spec.bindings where !binding.exchange.isEmpty {
            declarations.append(.binding(queue: spec.name, exchange: binding.exchange, pattern: binding.pattern))
        }
        return declarations
    }

    /// `x-dead-letter-exchange` = "" and `x-dead-letter-routing-key` = `<queue>.dlq`.
    static func mainQueueArguments(_ queue: String) -> [String: FieldValue] {
        ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string(self.deadLetterQueue(for: queue))]
    }

    /// `x-message-ttl` = the delay, then back to `queue` through the default exchange.
    static func retryQueueArguments(_ queue: String, delayMilliseconds: Int64) -> [String: FieldValue] {
        [
            "x-message-ttl": .int64(delayMilliseconds),
            "x-dead-letter-exchange": .string(""),
            "x-dead-letter-routing-key": .string(queue),
        ]
    }

    /// A dictionary of arguments as a table with a stable (sorted) key order.
    static func table(_ arguments: [String: FieldValue]) -> FieldTable {
        arguments.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
    }
}
