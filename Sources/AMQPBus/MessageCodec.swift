import BookstoreCore
import Foundation

/// The AMQP basic properties the bus reads and writes, before they become C structures.
struct WireProperties: Sendable, Equatable {
    var contentType: String?
    /// 2 = persistent.
    var deliveryMode: UInt8?
    var messageID: String?
    var correlationID: String?
    var replyTo: String?
    /// Seconds since 1970 (AMQP timestamps have no finer resolution; milliseconds travel in `timestamp_in_ms`).
    var timestamp: UInt64?
    var appID: String?
    var headers: FieldTable = []

    static func == (lhs: WireProperties, rhs: WireProperties) -> Bool {
        lhs.contentType == rhs.contentType && lhs.deliveryMode == rhs.deliveryMode && lhs.messageID == rhs.messageID
            && lhs.correlationID == rhs.correlationID && lhs.replyTo == rhs.replyTo && lhs.timestamp == rhs.timestamp
            && lhs.appID == rhs.appID && lhs.headers.elementsEqual(rhs.headers) { $0.key == $1.key && $0.value == $1.value }
    }
}

/// A message ready for `basic.publish`.
struct OutgoingMessage: Sendable, Equatable {
    var exchange: String
    var routingKey: String
    /// Set for default-exchange publishes: a queue that does not exist returns the message instead of dropping it.
    var mandatory: Bool
    var properties: WireProperties
    var body: [UInt8]
}

/// Conversions between `EventMessage` and AMQP messages (SPEC §6 properties and headers).
///
/// Every `EventMessage.headers` entry travels as an AMQP long-string header. Three more headers are the bus's own
/// and never reach `EventMessage.headers`: `timestamp_in_ms` (the timestamp's milliseconds), and on retried or
/// dead-lettered copies `x-original-exchange` / `x-original-routing-key` (so the consumer sees the message as it was
/// first published, as with the in-process bus). Headers the broker adds when it dead-letters (`x-death`,
/// `x-first-death-*`, `x-last-death-*`) are dropped too.
enum MessageCodec {
    static let timestampHeader = "timestamp_in_ms"
    static let originalExchangeHeader = "x-original-exchange"
    static let originalRoutingKeyHeader = "x-original-routing-key"
    static let deathReasonHeader = "x-death-reason"
    static let originalQueueHeader = "x-original-queue"

    /// Whether `key` is one of the bus's own or the broker's headers, which `EventMessage.headers` never shows.
    static func isInternalHeader(_ key: String) -> Bool {
        key == self.timestampHeader || key == self.originalExchangeHeader || key == self.originalRoutingKeyHeader
            || key == "x-death" || key.hasPrefix("x-first-death-") || key.hasPrefix("x-last-death-")
    }

    /// The publish of `message` as it is: persistent, with every property and header.
    static func outgoing(_ message: EventMessage, appID: String?) -> OutgoingMessage {
        OutgoingMessage(
            exchange: message.exchange,
            routingKey: message.routingKey,
            mandatory: message.exchange.isEmpty,
            properties: self.properties(for: message, appID: appID),
            body: message.body
        )
    }

    static func properties(for message: EventMessage, appID: String?) -> WireProperties {
        let milliseconds = (message.timestamp.timeIntervalSince1970 * 1000).rounded()
        var headers: FieldTable = message.headers.sorted { $0.key < $1.key }.map { (key: $0.key, value: .string($0.value)) }
        headers.append((key: self.timestampHeader, value: .int64(Int64(milliseconds))))
        return WireProperties(
            contentType: message.contentType,
            deliveryMode: 2,
            messageID: message.messageID,
            correlationID: message.correlationID,
            replyTo: message.replyTo,
            timestamp: milliseconds >= 0 ? UInt64(milliseconds / 1000) : 0,
            appID: appID,
            headers: headers
        )
    }

    /// The copy that waits in `<queue>.retry.<ms>` and then returns to `queue`: same message id, `x-attempt` + 1.
    static func retryCopy(of message: EventMessage, queue: String, delay: Duration, appID: String?) -> OutgoingMessage {
        var copy = self.keepingOrigin(message)
        copy.attempt = message.attempt + 1
        let milliseconds = Topology.milliseconds(delay)
        return OutgoingMessage(
            exchange: "",
            routingKey: Topology.retryQueue(for: queue, delayMilliseconds: milliseconds),
            mandatory: false,
            properties: self.properties(for: copy, appID: appID),
            body: copy.body
        )
    }

    /// The copy parked in `<queue>.dlq`, with `x-death-reason` and `x-original-queue`.
    static func deadLetterCopy(of message: EventMessage, queue: String, reason: String, appID: String?) -> OutgoingMessage {
        var copy = self.keepingOrigin(message)
        copy.headers[self.deathReasonHeader] = reason
        copy.headers[self.originalQueueHeader] = queue
        return OutgoingMessage(
            exchange: "",
            routingKey: Topology.deadLetterQueue(for: queue),
            mandatory: false,
            properties: self.properties(for: copy, appID: appID),
            body: copy.body
        )
    }

    private static func keepingOrigin(_ message: EventMessage) -> EventMessage {
        var copy = message
        copy.headers[self.originalExchangeHeader] = message.exchange
        copy.headers[self.originalRoutingKeyHeader] = message.routingKey
        return copy
    }

    /// The `EventMessage` of a delivery.
    /// - Parameters:
    ///   - headers: the delivery's headers already reduced to strings (tables and arrays left out).
    static func message(exchange: String, routingKey: String, properties: WireProperties, body: [UInt8]) -> EventMessage {
        var headers: [String: String] = [:]
        var milliseconds: Int64?
        var originalExchange: String?
        var originalRoutingKey: String?
        for (key, value) in properties.headers {
            switch key {
            case self.timestampHeader:
                milliseconds = value.integer
            case self.originalExchangeHeader:
                originalExchange = value.text
            case self.originalRoutingKeyHeader:
                originalRoutingKey = value.text
            default:
                if !self.isInternalHeader(key) { headers[key] = value.text }
            }
        }
        let timestamp: Date
        if let milliseconds {
            timestamp = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        } else if let seconds = properties.timestamp {
            timestamp = Date(timeIntervalSince1970: Double(seconds))
        } else {
            timestamp = Date()
        }
        let messageID = properties.messageID ?? UUID().lowercasedText
        return EventMessage(
            exchange: originalExchange ?? exchange,
            routingKey: originalRoutingKey ?? routingKey,
            body: body,
            messageID: messageID,
            correlationID: properties.correlationID ?? messageID,
            timestamp: timestamp,
            contentType: properties.contentType ?? "application/octet-stream",
            replyTo: properties.replyTo,
            headers: headers
        )
    }
}

extension FieldValue {
    /// The header as `EventMessage.headers` shows it.
    var text: String {
        switch self {
        case .string(let value): value
        case .int64(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        }
    }

    var integer: Int64? {
        switch self {
        case .int64(let value): value
        case .string(let value): Int64(value)
        case .bool: nil
        }
    }
}
