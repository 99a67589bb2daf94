import BookstoreCore
import Logging

/// A message delivered to a consumer, with what is needed to settle it on the connection it came from.
struct Delivery: Sendable {
    let message: EventMessage
    let deliveryTag: UInt64
    /// The connection it arrived on; a delivery of an earlier connection cannot be acknowledged any more (the broker
    /// delivers it again).
    let generation: Int
}

/// The connection of one consumer: declares the queue's topology, consumes with manual acks and `basic.qos`, and
/// settles deliveries (ack; retry through `<queue>.retry.<ms>`; park in `<queue>.dlq`). Runs on its
/// `ConnectionThread`.
final class ConsumerSession: ConnectionSession {
    private struct PendingSettlement {
        /// The publish of the retry or dead-letter copy.
        let tag: UInt64
        /// The delivery to acknowledge once the copy is confirmed (nil for a delivery of an earlier connection).
        let deliveryTag: UInt64?
        let sentAt: ContinuousClock.Instant
    }

    private let queue: String
    private let prefetch: Int
    private let configuration: AMQPConfiguration
    private let appID: String
    private let logger: Logger
    private let registry: TopologyRegistry
    private let instruments: BusInstruments
    private let deliveries: AsyncStream<Delivery>.Continuation

    private var connection: AMQPConnection?
    private var schedule: ReconnectSchedule
    private var generation = 0
    private var pending: [PendingSettlement] = []
    /// Retry and dead-letter queues declared on this connection.
    private var declaredRetryQueues: Set<String> = []
    private var isShutDown = false

    init(
        queue: String,
        prefetch: Int,
        configuration: AMQPConfiguration,
        appID: String,
        logger: Logger,
        registry: TopologyRegistry,
        instruments: BusInstruments,
        deliveries: AsyncStream<Delivery>.Continuation
    ) {
        self.queue = queue
        self.prefetch = min(max(prefetch, 1), 65535)
        self.configuration = configuration
        self.appID = appID
        var logger = logger
        logger[metadataKey: "messaging.destination"] = .string(queue)
        self.logger = logger
        self.registry = registry
        self.instruments = instruments
        self.deliveries = deliveries
        self.schedule = ReconnectSchedule(backoff: configuration.reconnectBackoff)
    }

    var socketDescriptor: Int32? { self.connection?.socketDescriptor }

    var hasBufferedFrames: Bool { self.connection?.hasBufferedFrames ?? false }

    // MARK: Jobs

    /// Settles `delivery` as the handler decided.
    func settle(_ delivery: Delivery, outcome: DeliveryOutcome) {
        guard !self.isShutDown, let connection = self.connection else { return }
        let current = delivery.generation == self.generation
        do {
            switch outcome {
            case .ack:
                if current { try connection.ack(deliveryTag: delivery.deliveryTag) }
            case .retry(let delay):
                var copy = MessageCodec.retryCopy(of: delivery.message, queue: self.queue, delay: delay, appID: self.appID)
                do {
                    try self.ensureRetryQueue(copy.routingKey, delay: delay, on: connection)
                } catch  where error.isChannelLevel {
                    self.logger.error("Cannot declare the retry queue; parking the message", metadata: ["error": .string(error.description)])
                    copy = MessageCodec.deadLetterCopy(
                        of: delivery.message,
                        queue: self.queue,
                        reason: "retry queue unavailable: \(error.description)",
                        appID: self.appID
                    )
                }
                if copy.routingKey == Topology.deadLetterQueue(for: self.queue) { try self.ensureDeadLetterQueue(on: connection) }
                let tag = try connection.publish(copy)
                self.pending.append(PendingSettlement(tag: tag, deliveryTag: current ? delivery.deliveryTag : nil, sentAt: .now))
            case .deadLetter(let reason):
                let copy = MessageCodec.deadLetterCopy(of: delivery.message, queue: self.queue, reason: reason, appID: self.appID)
                try self.ensureDeadLetterQueue(on: connection)
                let tag = try connection.publish(copy)
                self.pending.append(PendingSettlement(tag: tag, deliveryTag: current ? delivery.deliveryTag : nil, sentAt: .now))
            }
        } catch {
            self.fail(error.description, polite: false)
        }
    }

    // MARK: Thread loop

    func service() -> Duration {
        guard !self.isShutDown else { return .seconds(1) }
        if self.connection == nil { self.connectIfDue() }
        guard self.connection != nil else { return min(.seconds(1), self.schedule.timeUntilDue()) }
        self.pump()
        if let oldest = self.pending.first?.sentAt, ContinuousClock.now - oldest > self.configuration.confirmTimeout {
            self.fail("no publisher confirm within \(self.configuration.confirmTimeout)", polite: true)
        }
        return .seconds(1)
    }

    func shutdown() {
        let deadline = ContinuousClock.now + min(self.configuration.confirmTimeout, .seconds(5))
        while let connection = self.connection, !self.pending.isEmpty, ContinuousClock.now < deadline {
            waitReadable(connection.socketDescriptor, milliseconds: 50)
            self.pump()
        }
        // Deliveries not acknowledged go back to the queue when the connection closes.
        self.connection?.close()
        self.connection = nil
        self.instruments.connection(up: false)
        self.isShutDown = true
        self.deliveries.finish()
    }

    // MARK: Connection

    private func connectIfDue() {
        guard self.schedule.isDue() else { return }
        let wasConnectedBefore = self.generation > 0
        do {
            let connection = try AMQPConnection(configuration: self.configuration, connectionName: "\(self.appID) consumer \(self.queue)")
            self.connection = connection
            let declarations = self.registry.spec(for: self.queue).map(Topology.queueDeclarations) ?? []
            for declaration in declarations {
                do {
                    try connection.declare(declaration)
                } catch  where error.isChannelLevel {
                    self.logger.error("The broker refused a declaration", metadata: ["error": .string(error.description)])
                }
            }
            try connection.qos(prefetch: self.prefetch)
            try connection.consume(queue: self.queue)
            self.generation += 1
            self.pending.removeAll()
            self.declaredRetryQueues.removeAll()
            self.schedule.connected()
            self.instruments.connection(up: true)
            if wasConnectedBefore {
                self.instruments.reconnected()
                self.logger.info("Consumer reconnected")
            } else {
                self.logger.debug("Consumer connected", metadata: ["messaging.prefetch": .stringConvertible(self.prefetch)])
            }
        } catch {
            self.connection?.close()
            self.connection = nil
            let delay = self.schedule.attemptFailed()
            let attempts = self.schedule.failedAttempts
            let metadata: Logger.Metadata = [
                "error": .string(error.description), "amqp.attempt": .stringConvertible(attempts),
                "amqp.retry_in_ms": .stringConvertible(Backoff.nanoseconds(delay) / 1_000_000),
            ]
            if attempts == 1 || attempts.isMultiple(of: 50) {
                self.logger.warning("Consumer cannot connect to the broker", metadata: metadata)
            } else {
                self.logger.debug("Consumer cannot connect to the broker", metadata: metadata)
            }
        }
    }

    /// Declares `<queue>.dlq` before the first dead letter on this connection (declared with the queue's topology
    /// too, but a consumer of a queue declared elsewhere must not lose what it parks).
    private func ensureDeadLetterQueue(on connection: AMQPConnection) throws(AMQPFailure) {
        let name = Topology.deadLetterQueue(for: self.queue)
        guard !self.declaredRetryQueues.contains(name) else { return }
        do {
            try connection.declare(.queue(name: name, arguments: [:]))
        } catch  where error.isChannelLevel {
            self.logger.error("The broker refused a declaration", metadata: ["error": .string(error.description)])
        }
        self.declaredRetryQueues.insert(name)
    }

    private func ensureRetryQueue(_ name: String, delay: Duration, on connection: AMQPConnection) throws(AMQPFailure) {
        guard !self.declaredRetryQueues.contains(name) else { return }
        let arguments = Topology.retryQueueArguments(self.queue, delayMilliseconds: Topology.milliseconds(delay))
        try connection.declare(.queue(name: name, arguments: arguments))
        self.declaredRetryQueues.insert(name)
    }

    /// Drops the connection. Unacknowledged deliveries return to the queue and are delivered again.
    private func fail(_ reason: String, polite: Bool) {
        guard let connection = self.connection else { return }
        self.logger.warning("Consumer lost the broker connection", metadata: ["error": .string(reason)])
        if polite { connection.close() } else { connection.abandon() }
        self.connection = nil
        self.pending.removeAll()
        self.instruments.connectionLost()
        self.schedule.connectionLost()
    }

    // MARK: Frames

    private func pump() {
        pumpFrames(
            connection: { self.connection },
            handle: { frame, connection throws(AMQPFailure) in try self.handle(frame, on: connection) },
            fail: { reason in self.fail(reason, polite: false) }
        )
    }

    private func handle(_ frame: AMQPConnection.Frame, on connection: AMQPConnection) throws(AMQPFailure) {
        switch frame {
        case .deliver(let deliveryTag, _, let exchange, let routingKey):
            let content = try connection.readContent()
            let message = MessageCodec.message(exchange: exchange, routingKey: routingKey, properties: content.properties, body: content.body)
            self.deliveries.yield(Delivery(message: message, deliveryTag: deliveryTag, generation: self.generation))
        case .ack(let tag, let multiple):
            try self.confirm(tag: tag, multiple: multiple, accepted: true, on: connection)
        case .nack(let tag, let multiple):
            try self.confirm(tag: tag, multiple: multiple, accepted: false, on: connection)
        case .returned:
            _ = try connection.readContent()
        case .channelClosed(let channel, let code, let text):
            if channel == AMQPConnection.mainChannel {
                throw AMQPFailure(operation: "consume", kind: .channel(code: code, text: text))
            }
        case .connectionClosed(let code, let text):
            throw AMQPFailure(operation: "connection", kind: .connection(code: code, text: text))
        case .consumerCancelled:
            throw AMQPFailure(operation: "consume", kind: .channel(code: 0, text: "consumer cancelled by the broker"))
        case .blocked, .unblocked, .other:
            // A consumer publishes only retry and dead-letter copies; while blocked their confirms wait (bounded by
            // the confirm timeout), and the original stays unacknowledged, so nothing is lost.
            break
        }
    }

    /// A retry or dead-letter copy was confirmed (ack the original) or refused (requeue the original).
    private func confirm(tag: UInt64, multiple: Bool, accepted: Bool, on connection: AMQPConnection) throws(AMQPFailure) {
        var settled: [PendingSettlement] = []
        self.pending.removeAll { entry in
            guard multiple ? entry.tag <= tag : entry.tag == tag else { return false }
            settled.append(entry)
            return true
        }
        for entry in settled {
            guard let deliveryTag = entry.deliveryTag else { continue }
            if accepted {
                try connection.ack(deliveryTag: deliveryTag)
            } else {
                try connection.nack(deliveryTag: deliveryTag, requeue: true)
            }
        }
    }
}

/// Reads and handles the frames already available (at most 10 000 at a time), re-reading `connection()` before each:
/// the loop ends when no frame is buffered or the connection is gone. The first failure reading or handling a frame
/// goes to `fail` (which drops the connection) and ends the loop. Shared by `ConsumerSession` and `PublisherSession`.
func pumpFrames(
    connection: () -> AMQPConnection?,
    handle: (AMQPConnection.Frame, AMQPConnection) throws(AMQPFailure) -> Void,
    fail: (String) -> Void
) {
    var handled = 0
    while handled < 10_000, let connection = connection() {
        do {
            guard let frame = try connection.nextFrame() else { return }
            handled += 1
            try handle(frame, connection)
        } catch {
            fail(error.description)
            return
        }
    }
}
