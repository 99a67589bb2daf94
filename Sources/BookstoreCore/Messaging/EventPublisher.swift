import Foundation
import JSONKit
import Logging
import Prometheus

/// An event the bus could not take (outbox full or unwritable, bus shut down): a message handler that must publish it
/// fails its delivery, which is then retried.
public struct EventNotStored: Error, Sendable {
    public let routingKey: String

    public init(routingKey: String) {
        self.routingKey = routingKey
    }
}

/// Publishes JSON events with the properties of SPEC §6 and counts them in `messages_published_total`.
public struct EventPublisher: Sendable {
    public let bus: any EventBus
    let metrics: ServiceMetrics
    let logger: Logger

    public init(bus: any EventBus, metrics: ServiceMetrics, logger: Logger) {
        self.bus = bus
        self.metrics = metrics
        self.logger = logger
    }

    /// Publishes the event that goes with a state change already stored. When the bus cannot take it (the AMQP bus's
    /// outbox is full or cannot be written, the bus is shut down), `undo` reverts the change and the request fails
    /// with 503 and `Retry-After`: a client never gets a success whose event was lost, and nothing is left half-done.
    /// - Throws: ``APIError/unavailable(_:retryAfterSeconds:)``.
    public func publishOrUndo(
        exchange: String,
        routingKey: String,
        payload: JSON,
        requestID: String?,
        undo: () async throws -> Void
    ) async throws {
        guard await !self.publish(exchange: exchange, routingKey: routingKey, payload: payload, requestID: requestID) else { return }
        do {
            try await undo()
        } catch {
            self.logger.critical(
                "State change kept without its event: the event could not be stored and the change could not be undone",
                metadata: ["messaging.routing_key": .string(routingKey), "error.type": .string(String(describing: type(of: error)))]
            )
        }
        throw APIError.unavailable("The event bus cannot take events right now; nothing was changed, retry later", retryAfterSeconds: 5)
    }

    /// Publishes `payload` with `routingKey` on `exchange` (empty: the default exchange, i.e. straight to a queue).
    /// - Returns: whether the bus took it (the AMQP bus: stored in its durable outbox, or confirmed by the broker). A
    ///   failure is logged and counted; callers that answer for a state change use ``publishOrUndo(exchange:routingKey:payload:requestID:undo:)``,
    ///   consumers fail the delivery so it is retried.
    @discardableResult
    public func publish(
        exchange: String,
        routingKey: String,
        payload: JSON,
        requestID: String? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        messageID: String? = nil
    ) async -> Bool {
        var headers: [String: String] = [:]
        let requestID = requestID ?? UUID().lowercasedText
        headers[EventMessage.requestIDHeader] = requestID
        headers[EventMessage.traceHeader] = TraceContext.traceparent(for: requestID)
        let message = EventMessage(
            exchange: exchange,
            routingKey: routingKey,
            body: payload.bytes,
            messageID: messageID ?? UUID().lowercasedText,
            correlationID: correlationID,
            replyTo: replyTo,
            headers: headers
        )
        let outcome: String
        do {
            try await self.bus.publish(message)
            outcome = "success"
        } catch {
            outcome = "failure"
            self.logger.error(
                "Event could not be published",
                metadata: ["messaging.destination": .string(exchange), "messaging.routing_key": .string(routingKey)]
            )
        }
        self.metrics.counter(
            "messages_published_total",
            labels: [("exchange", exchange.isEmpty ? "(default)" : exchange), ("routing_key", routingKey), ("outcome", outcome)],
            help: "Messages published"
        ).increment()
        return outcome == "success"
    }
}

/// W3C trace context derived from the request id, so a request can be followed across services and messages.
public enum TraceContext {
    /// A `traceparent` header value whose trace id is derived from `requestID`.
    public static func traceparent(for requestID: String) -> String {
        "00-\(self.traceID(for: requestID))-\(self.spanID())-01"
    }

    /// A 32-hex-digit trace id: the request id's hex digits when it is a UUID, else a hash of it.
    public static func traceID(for requestID: String) -> String {
        let hex = requestID.lowercased().filter(\.isHexDigit)
        if hex.count == 32 { return hex }
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in requestID.utf8 {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 7
        }
        return String(format: "%016llx%016llx", first, second)
    }

    static func spanID() -> String { String(format: "%016llx", UInt64.random(in: 1...UInt64.max)) }
}
