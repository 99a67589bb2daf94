import BookstoreCore
import Logging

/// The publisher connection: publishes with confirms, keeps what the broker cannot take in the outbox, and sends the
/// outbox in order when the connection is back. Runs on its `ConnectionThread`.
final class PublisherSession: ConnectionSession {
    typealias Completion = @Sendable (Result<Void, any Error>) -> Void

    /// The most outbox records published and not yet confirmed.
    static let outboxWindow = 256

    private struct InFlight {
        let tag: UInt64
        /// For a returned message re-published to `unrouted`, a copy addressed to `unrouted`.
        let message: EventMessage?
        let completion: Completion?
        let sentAt: ContinuousClock.Instant
    }

    private struct OutboxInFlight {
        /// nil for an unreadable record that is skipped.
        let tag: UInt64?
        let end: UInt64
        var confirmed: Bool
        let sentAt: ContinuousClock.Instant
    }

    private let configuration: AMQPConfiguration
    private let appID: String
    private let logger: Logger
    private let registry: TopologyRegistry
    private let health: HealthFlag
    private let instruments: BusInstruments

    private var connection: AMQPConnection?
    private var schedule: ReconnectSchedule
    private var everConnected = false
    private var declaredExchanges: Set<String> = []
    private var inFlight: [InFlight] = []
    private var outboxInFlight: [OutboxInFlight] = []
    private var outbox: Outbox?
    private var outboxOpenFailure: String?
    private var outboxInUse = false
    private var isShutDown = false
    /// Since when the broker blocks this connection (memory or disk alarm): publishes go to the outbox meanwhile, so a
    /// request never waits for a confirm that cannot come.
    private var blockedSince: ContinuousClock.Instant?

    init(
        configuration: AMQPConfiguration,
        appID: String,
        logger: Logger,
        registry: TopologyRegistry,
        health: HealthFlag,
        instruments: BusInstruments
    ) {
        self.configuration = configuration
        self.appID = appID
        self.logger = logger
        self.registry = registry
        self.health = health
        self.instruments = instruments
        self.schedule = ReconnectSchedule(backoff: configuration.reconnectBackoff)
    }

    var socketDescriptor: Int32? { self.connection?.socketDescriptor }

    var hasBufferedFrames: Bool { self.connection?.hasBufferedFrames ?? false }

    /// Messages in the outbox not confirmed by the broker yet.
    var outboxDepth: Int { self.outbox?.pendingCount ?? 0 }

    /// `outboxDepth`, opening the outbox first (it holds the messages of an earlier run until the first publish).
    func pendingOutboxMessages() -> Int {
        self.openOutboxIfNeeded()?.pendingCount ?? 0
    }

    // MARK: Jobs

    /// Publishes `message`; `completion` reports success once the broker confirmed it or the outbox holds it.
    func publish(_ message: EventMessage, completion: @escaping Completion) {
        guard !self.isShutDown else { return completion(.failure(AMQPBusError.shutDown)) }
        self.openOutboxIfNeeded()
        if self.connection == nil { self.connectIfDue() }
        guard let connection = self.connection, self.outboxDepth == 0, self.blockedSince == nil else {
            self.store(message, completion: completion)
            self.flushOutbox()
            return
        }
        do {
            try self.ensureExchange(message.exchange, on: connection)
            let tag = try connection.publish(MessageCodec.outgoing(message, appID: self.appID))
            self.inFlight.append(InFlight(tag: tag, message: message, completion: completion, sentAt: .now))
        } catch {
            self.fail(error.description, polite: false)
            self.store(message, completion: completion)
        }
    }

    /// Declares now when connected; otherwise the declarations are made when the connection comes up.
    func declare(_ declarations: [Declaration], completion: @escaping Completion) {
        guard !self.isShutDown else { return completion(.failure(AMQPBusError.shutDown)) }
        if self.connection == nil { self.connectIfDue() }
        guard let connection = self.connection else { return completion(.success(())) }
        do {
            for declaration in declarations {
                try connection.declare(declaration)
                if case .exchange(let name, "topic", _) = declaration { self.declaredExchanges.insert(name) }
            }
            completion(.success(()))
        } catch {
            if error.isChannelLevel {
                self.logger.error("The broker refused a declaration", metadata: ["error": .string(error.description)])
                completion(.failure(AMQPBusError.topologyRefused(error.description)))
            } else {
                self.fail(error.description, polite: false)
                completion(.success(()))
            }
        }
    }

    // MARK: Thread loop

    func service() -> Duration {
        guard !self.isShutDown else { return .seconds(1) }
        self.openOutboxIfNeeded()
        if self.connection == nil { self.connectIfDue() }
        guard self.connection != nil else { return min(.seconds(1), self.schedule.timeUntilDue()) }
        self.pump()
        self.checkConfirmTimeouts()
        self.flushOutbox()
        return .seconds(1)
    }

    func shutdown() {
        let deadline = ContinuousClock.now + min(self.configuration.confirmTimeout, .seconds(5))
        while let connection = self.connection, self.awaitsConfirms, ContinuousClock.now < deadline {
            waitReadable(connection.socketDescriptor, milliseconds: 50)
            self.pump()
        }
        let unconfirmed = self.inFlight
        self.inFlight.removeAll()
        for entry in unconfirmed {
            if let message = entry.message { self.store(message, completion: entry.completion ?? { _ in }) }
        }
        self.connection?.close()
        self.connection = nil
        self.blockedSince = nil
        self.health.set(false)
        self.instruments.connection(up: false)
        self.outbox?.close()
        self.outbox = nil
        self.isShutDown = true
    }

    private var awaitsConfirms: Bool {
        !self.inFlight.isEmpty || self.outboxInFlight.contains { !$0.confirmed }
    }

    // MARK: Connection

    private func connectIfDue() {
        guard self.connection == nil, !self.isShutDown, self.schedule.isDue() else { return }
        do {
            let connection = try AMQPConnection(configuration: self.configuration, connectionName: "\(self.appID) publisher")
            self.connection = connection
            self.schedule.connected()
            self.declaredExchanges.removeAll()
            try self.declareKnownTopology(on: connection)
            self.health.set(true)
            self.instruments.connection(up: true)
            if self.everConnected {
                self.instruments.reconnected()
                self.logger.info("Reconnected to the broker", metadata: ["messaging.outbox": .stringConvertible(self.outboxDepth)])
            } else {
                self.logger.info(
                    "Connected to the broker",
                    metadata: ["amqp.broker": .string(self.configuration.description), "amqp.heartbeat": .stringConvertible(connection.heartbeat)]
                )
            }
            self.everConnected = true
        } catch {
            self.connection?.abandon()
            self.connection = nil
            self.health.set(false)
            let delay = self.schedule.attemptFailed()
            let attempts = self.schedule.failedAttempts
            let metadata: Logger.Metadata = [
                "error": .string(error.description), "amqp.attempt": .stringConvertible(attempts),
                "amqp.retry_in_ms": .stringConvertible(Backoff.nanoseconds(delay) / 1_000_000),
            ]
            if attempts == 1 || attempts.isMultiple(of: 50) {
                self.logger.warning("Cannot connect to the broker", metadata: metadata)
            } else {
                self.logger.debug("Cannot connect to the broker", metadata: metadata)
            }
        }
    }

    private func declareKnownTopology(on connection: AMQPConnection) throws(AMQPFailure) {
        let declarations = self.registry.declarations() + [.queue(name: Topology.unroutedQueue, arguments: [:])]
        for declaration in Topology.deduplicated(declarations) {
            do {
                try connection.declare(declaration)
            } catch  where error.isChannelLevel {
                self.logger.error("The broker refused a declaration", metadata: ["error": .string(error.description)])
            }
            if case .exchange(let name, "topic", _) = declaration { self.declaredExchanges.insert(name) }
        }
    }

    /// Declares `exchange` (topic, durable, with its alternate exchange) before the first publish to it on this connection.
    private func ensureExchange(_ exchange: String, on connection: AMQPConnection) throws(AMQPFailure) {
        guard !exchange.isEmpty, !self.declaredExchanges.contains(exchange) else { return }
        for declaration in Topology.exchangeDeclarations(exchange) {
            do {
                try connection.declare(declaration)
            } catch  where error.isChannelLevel {
                // Typically 406: the exchange exists with other arguments. It exists, so publishing works.
                self.logger.warning("The broker refused a declaration", metadata: ["error": .string(error.description)])
            }
        }
        self.declaredExchanges.insert(exchange)
    }

    /// Drops the connection: unconfirmed direct publishes go to the outbox (in order), unconfirmed outbox records
    /// will be sent again.
    private func fail(_ reason: String, polite: Bool) {
        guard let connection = self.connection else { return }
        self.logger.warning("Lost the broker connection", metadata: ["error": .string(reason)])
        if polite { connection.close() } else { connection.abandon() }
        self.connection = nil
        self.blockedSince = nil
        self.health.set(false)
        self.instruments.connectionLost()
        self.schedule.connectionLost()
        self.declaredExchanges.removeAll()
        self.outboxInFlight.removeAll()
        self.outbox?.rewind()
        let unconfirmed = self.inFlight
        self.inFlight.removeAll()
        for entry in unconfirmed {
            if let message = entry.message {
                self.store(message, completion: entry.completion ?? { _ in })
            } else {
                self.logger.warning("A returned message could not be parked in the unrouted queue")
            }
        }
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
        case .ack(let tag, let multiple):
            self.confirm(tag: tag, multiple: multiple, accepted: true)
        case .nack(let tag, let multiple):
            self.confirm(tag: tag, multiple: multiple, accepted: false)
        case .returned(_, let text, let exchange, let routingKey):
            // A default-exchange publish to a queue that does not exist: park it in `unrouted` instead of losing it.
            let content = try connection.readContent()
            self.logger.warning(
                "No queue for a message; parking it in the unrouted queue",
                metadata: ["messaging.destination": .string(exchange), "messaging.routing_key": .string(routingKey), "reason": .string(text)]
            )
            let message = OutgoingMessage(
                exchange: "",
                routingKey: Topology.unroutedQueue,
                mandatory: false,
                properties: content.properties,
                body: content.body
            )
            let tag = try connection.publish(message)
            // Keep a copy: if the broker nacks the parked message or the connection drops before its confirm, the copy
            // goes to the outbox like any other unconfirmed message (before, it was lost).
            let copy = MessageCodec.message(
                exchange: "",
                routingKey: Topology.unroutedQueue,
                properties: content.properties,
                body: content.body
            )
            self.inFlight.append(InFlight(tag: tag, message: copy, completion: nil, sentAt: .now))
        case .channelClosed(let channel, let code, let text):
            if channel == AMQPConnection.mainChannel {
                throw AMQPFailure(operation: "publish", kind: .channel(code: code, text: text))
            }
        case .connectionClosed(let code, let text):
            throw AMQPFailure(operation: "connection", kind: .connection(code: code, text: text))
        case .blocked(let reason):
            self.blocked(reason: reason)
        case .unblocked:
            guard let since = self.blockedSince else { break }
            self.blockedSince = nil
            self.health.set(true)
            self.logger.notice(
                "The broker unblocked publishing; sending the outbox",
                metadata: ["amqp.blocked_ms": .stringConvertible((ContinuousClock.now - since).components.seconds * 1000)]
            )
            self.flushOutbox()
        case .deliver, .consumerCancelled, .other:
            break
        }
    }

    /// The broker blocks publishers (`connection.blocked`: memory or disk alarm). Messages waiting for a confirm go to
    /// the outbox now and their callers are answered (the broker may still confirm and deliver them later; a copy
    /// sent again from the outbox has the same `message_id`, which consumers deduplicate); new messages go straight
    /// to the outbox until `connection.unblocked`.
    private func blocked(reason: String) {
        guard self.blockedSince == nil else { return }
        self.blockedSince = .now
        self.health.set(false)
        self.logger.warning("The broker blocks publishing; keeping messages in the outbox", metadata: ["reason": .string(reason)])
        let waiting = self.inFlight
        self.inFlight.removeAll()
        for entry in waiting {
            guard let message = entry.message else { continue }
            self.store(message, completion: entry.completion ?? { _ in })
        }
    }

    private func confirm(tag: UInt64, multiple: Bool, accepted: Bool) {
        func matches(_ candidate: UInt64) -> Bool { multiple ? candidate <= tag : candidate == tag }
        var refused: [InFlight] = []
        self.inFlight.removeAll { entry in
            guard matches(entry.tag) else { return false }
            if accepted {
                entry.completion?(.success(()))
            } else {
                refused.append(entry)
            }
            return true
        }
        var outboxRefused = false
        for index in self.outboxInFlight.indices {
            if let candidate = self.outboxInFlight[index].tag, matches(candidate), !self.outboxInFlight[index].confirmed {
                if accepted {
                    self.outboxInFlight[index].confirmed = true
                } else {
                    outboxRefused = true
                }
            }
        }
        self.commitConfirmedOutboxPrefix()
        for entry in refused {
            self.logger.warning("The broker refused a message (nack); keeping it in the outbox")
            if let message = entry.message { self.store(message, completion: entry.completion ?? { _ in }) }
        }
        if outboxRefused {
            self.fail("the broker refused an outbox message (nack)", polite: true)
        }
    }

    private func checkConfirmTimeouts() {
        // While blocked no confirm can come; what waited for one is in the outbox already.
        guard self.blockedSince == nil else { return }
        let oldestDirect = self.inFlight.first?.sentAt
        let oldestOutbox = self.outboxInFlight.first { !$0.confirmed }?.sentAt
        guard let oldest = [oldestDirect, oldestOutbox].compactMap({ $0 }).min() else { return }
        if ContinuousClock.now - oldest > self.configuration.confirmTimeout {
            self.fail("no publisher confirm within \(self.configuration.confirmTimeout)", polite: true)
        }
    }

    // MARK: Outbox

    @discardableResult
    private func openOutboxIfNeeded() -> Outbox? {
        if let outbox = self.outbox { return outbox }
        guard !self.isShutDown else { return nil }
        do {
            let (outbox, adopted) = try Outbox.open(
                base: self.configuration.outboxDirectory,
                maxMessages: self.configuration.outboxMaxMessages,
                maxBytes: UInt64(self.configuration.outboxMaxBytes)
            )
            self.outbox = outbox
            self.outboxOpenFailure = nil
            self.instruments.outbox(count: outbox.pendingCount)
            if outbox.pendingCount > 0 {
                self.logger.info(
                    "Messages from an earlier run are waiting in the outbox",
                    metadata: [
                        "messaging.outbox": .stringConvertible(outbox.pendingCount), "messaging.outbox.adopted": .stringConvertible(adopted),
                        "messaging.outbox.directory": .string(outbox.directory),
                    ]
                )
            }
            return outbox
        } catch {
            if self.outboxOpenFailure != error.description {
                self.logger.error("Cannot open the outbox", metadata: ["error": .string(error.description)])
            }
            self.outboxOpenFailure = error.description
            return nil
        }
    }

    private func store(_ message: EventMessage, completion: @escaping Completion) {
        guard let outbox = self.openOutboxIfNeeded() else {
            return completion(.failure(AMQPBusError.outboxUnavailable(self.outboxOpenFailure ?? "not open")))
        }
        do {
            try outbox.append(message)
            self.instruments.outbox(count: outbox.pendingCount)
            if !self.outboxInUse {
                self.outboxInUse = true
                self.logger.warning(
                    "The broker is unavailable; keeping messages in the outbox",
                    metadata: ["messaging.outbox.directory": .string(outbox.directory)]
                )
            }
            completion(.success(()))
        } catch {
            self.logger.error("Cannot keep a message in the outbox", metadata: ["error": .string(error.description)])
            completion(.failure(error))
        }
    }

    /// Publishes the next outbox records, keeping at most `outboxWindow` unconfirmed.
    private func flushOutbox() {
        guard self.blockedSince == nil, let outbox = self.outbox, outbox.pendingCount > 0 else { return }
        while let connection = self.connection, self.outboxInFlight.count < Self.outboxWindow {
            do {
                guard let entry = try outbox.next() else { break }
                guard let message = entry.message else {
                    self.logger.error("Skipping an unreadable outbox record", metadata: ["messaging.outbox.directory": .string(outbox.directory)])
                    self.outboxInFlight.append(OutboxInFlight(tag: nil, end: entry.end, confirmed: true, sentAt: .now))
                    continue
                }
                do {
                    try self.ensureExchange(message.exchange, on: connection)
                    let tag = try connection.publish(MessageCodec.outgoing(message, appID: self.appID))
                    self.outboxInFlight.append(OutboxInFlight(tag: tag, end: entry.end, confirmed: false, sentAt: .now))
                } catch {
                    self.fail(error.description, polite: false)
                    return
                }
            } catch {
                self.logger.error("Cannot read the outbox", metadata: ["error": .string(error.description)])
                return
            }
        }
        self.commitConfirmedOutboxPrefix()
    }

    private func commitConfirmedOutboxPrefix() {
        guard let outbox = self.outbox else { return }
        var count = 0
        var end: UInt64 = 0
        while let first = self.outboxInFlight.first, first.confirmed {
            count += 1
            end = first.end
            self.outboxInFlight.removeFirst()
        }
        guard count > 0 else { return }
        do {
            try outbox.commit(entries: count, through: end)
        } catch {
            self.logger.error("Cannot record outbox progress", metadata: ["error": .string(error.description)])
        }
        self.instruments.outbox(count: outbox.pendingCount)
        if outbox.pendingCount == 0, self.outboxInUse {
            self.outboxInUse = false
            self.logger.info("The outbox is flushed")
        }
    }
}
