/// A failure of the AMQP event bus that its callers see.
public struct AMQPBusError: Error, CustomStringConvertible, Sendable, Equatable {
    enum Code: Sendable, Equatable {
        case outboxFull
        case outboxUnavailable
        case topologyRefused
        case shutDown
    }

    let code: Code
    public let description: String

    /// The broker is unreachable and the outbox already holds `RABBITMQ_OUTBOX_MAX_MESSAGES` messages.
    public static func outboxFull(limit: Int) -> AMQPBusError {
        AMQPBusError(code: .outboxFull, description: "the broker is unavailable and the outbox is full (\(limit) messages)")
    }

    public static func outboxFull(bytes: UInt64) -> AMQPBusError {
        AMQPBusError(code: .outboxFull, description: "the broker is unavailable and the outbox is full (\(bytes) bytes)")
    }

    /// The broker is unreachable and the outbox cannot be written.
    public static func outboxUnavailable(_ reason: String) -> AMQPBusError {
        AMQPBusError(code: .outboxUnavailable, description: "the broker is unavailable and the outbox cannot be written: \(reason)")
    }

    /// The broker refused a declaration (for example a queue that exists with other arguments).
    public static func topologyRefused(_ reason: String) -> AMQPBusError {
        AMQPBusError(code: .topologyRefused, description: "the broker refused the topology: \(reason)")
    }

    /// The bus was used after its service stopped.
    public static let shutDown = AMQPBusError(code: .shutDown, description: "the AMQP event bus has shut down")

    public var isOutboxFull: Bool { self.code == .outboxFull }
}
