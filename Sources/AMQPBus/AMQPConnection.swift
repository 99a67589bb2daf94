import BookstoreCore
import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the AMQP client or a refusal by the broker. Its description never contains the password.
struct AMQPFailure: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable, Equatable {
        /// rabbitmq-c's status (socket errors, timeouts, heartbeat timeouts): the connection is unusable.
        case library(Int32)
        /// The broker closed a channel (`404 NOT_FOUND`, `406 PRECONDITION_FAILED`…): the connection is still usable.
        case channel(code: UInt16, text: String)
        /// The broker closed the connection.
        case connection(code: UInt16, text: String)
    }

    let operation: String
    let kind: Kind

    var isChannelLevel: Bool {
        if case .channel = self.kind { return true }
        return false
    }

    var description: String {
        switch self.kind {
        case .library(let status):
            "\(self.operation): \(String(cString: amqp_error_string2(status)))"
        case .channel(let code, let text):
            "\(self.operation): channel closed by the broker (\(code) \(text))"
        case .connection(let code, let text):
            "\(self.operation): connection closed by the broker (\(code) \(text))"
        }
    }
}

/// One AMQP 0-9-1 connection of rabbitmq-c, used from a single thread.
///
/// Channel 1 carries publishes (in confirm mode) and, for consumers, deliveries; channel 2 carries declarations,
/// so that a declaration the broker refuses (which closes its channel) does not lose the publisher confirms of
/// channel 1.
final class AMQPConnection {
    static let mainChannel: amqp_channel_t = 1
    static let topologyChannel: amqp_channel_t = 2

    /// A method frame the bus acts on.
    enum Frame {
        case deliver(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, multiple: Bool)
        case returned(code: UInt16, text: String, exchange: String, routingKey: String)
        case channelClosed(channel: amqp_channel_t, code: UInt16, text: String)
        case connectionClosed(code: UInt16, text: String)
        case consumerCancelled
        /// The broker stopped reading from this connection (a memory or disk alarm): nothing published now would be
        /// confirmed until ``unblocked``.
        case blocked(reason: String)
        case unblocked
        case other
    }

    private let state: amqp_connection_state_t
    private var isOpen = false
    private var topologyChannelOpen = false
    private(set) var nextPublishTag: UInt64 = 1

    /// Connects, logs in, opens channel 1 and puts it in confirm mode.
    init(configuration: AMQPConfiguration, connectionName: String) throws(AMQPFailure) {
        guard let state = amqp_new_connection() else { throw AMQPFailure(operation: "connect", kind: .library(AMQP_STATUS_NO_MEMORY.rawValue)) }
        self.state = state
        guard let socket = amqp_tcp_socket_new(state) else {
            throw AMQPFailure(operation: "connect", kind: .library(AMQP_STATUS_NO_MEMORY.rawValue))
        }
        var connectTimeout = Self.timeValue(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &connectTimeout)
        guard status == AMQP_STATUS_OK.rawValue else { throw AMQPFailure(operation: "connect", kind: .library(status)) }
        var handshakeTimeout = Self.timeValue(configuration.connectTimeout + .seconds(2))
        _ = amqp_set_handshake_timeout(state, &handshakeTimeout)
        var rpcTimeout = Self.timeValue(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)

        let arena = CArena()
        // `connection.blocked`: the broker says when it blocks publishers (memory or disk alarm) instead of silently
        // not reading the socket.
        var clientProperties = arena.table(
            [(key: "connection_name", value: .string(connectionName)), (key: "product", value: .string("bookstore"))],
            nested: [(key: "capabilities", table: [(key: "connection.blocked", value: .bool(true))])]
        )
        let login = bookstore_amqp_login_plain(
            state,
            configuration.virtualHost,
            0,
            Int32(AMQP_DEFAULT_FRAME_SIZE),
            Int32(configuration.heartbeatSeconds),
            &clientProperties,
            configuration.user,
            configuration.password
        )
        try self.check(login, "login")
        self.isOpen = true
        amqp_channel_open(state, Self.mainChannel)
        try self.check(amqp_get_rpc_reply(state), "channel.open")
        amqp_confirm_select(state, Self.mainChannel)
        try self.check(amqp_get_rpc_reply(state), "confirm.select")
    }

    deinit {
        amqp_destroy_connection(self.state)
    }

    /// Closes the connection politely (bounded by the RPC timeout); the object is unusable afterwards.
    func close() {
        guard self.isOpen else { return }
        self.isOpen = false
        var quick = Self.timeValue(.seconds(1))
        _ = amqp_set_rpc_timeout(self.state, &quick)
        _ = amqp_connection_close(self.state, AMQP_REPLY_SUCCESS)
    }

    /// Drops the connection without the closing handshake (the broker already closed it, or the socket failed).
    func abandon() {
        self.isOpen = false
    }

    var socketDescriptor: Int32 { amqp_get_sockfd(self.state) }

    /// Whether a frame can be read without waiting for the socket.
    var hasBufferedFrames: Bool { bookstore_amqp_has_buffered_frames(self.state) != 0 }

    /// The broker's heartbeat interval in seconds (0: none).
    var heartbeat: Int { Int(amqp_get_heartbeat(self.state)) }

    // MARK: Topology (channel 2)

    /// Makes one declaration. A refusal by the broker throws a channel-level failure and leaves the connection usable.
    func declare(_ declaration: Declaration) throws(AMQPFailure) {
        if !self.topologyChannelOpen {
            amqp_channel_open(self.state, Self.topologyChannel)
            try self.check(amqp_get_rpc_reply(self.state), "channel.open")
            self.topologyChannelOpen = true
        }
        let arena = CArena()
        let operation: String
        switch declaration {
        case .exchange(let name, let type, let arguments):
            operation = "exchange.declare \(name)"
            amqp_exchange_declare(
                self.state,
                Self.topologyChannel,
                arena.bytes(name),
                arena.bytes(type),
                0,
                1,
                0,
                0,
                arena.table(Topology.table(arguments))
            )
        case .queue(let name, let arguments):
            operation = "queue.declare \(name)"
            amqp_queue_declare(self.state, Self.topologyChannel, arena.bytes(name), 0, 1, 0, 0, arena.table(Topology.table(arguments)))
        case .binding(let queue, let exchange, let pattern):
            operation = "queue.bind \(queue) \(exchange) \(pattern)"
            amqp_queue_bind(
                self.state,
                Self.topologyChannel,
                arena.bytes(queue),
                arena.bytes(exchange),
                arena.bytes(pattern),
                amqp_table_t(num_entries: 0, entries: nil)
            )
        }
        let reply = amqp_get_rpc_reply(self.state)
        do {
            try self.check(reply, operation)
        } catch {
            if error.isChannelLevel {
                self.topologyChannelOpen = false
                _ = bookstore_amqp_send_channel_close_ok(self.state, Self.topologyChannel)
            }
            throw error
        }
    }

    // MARK: Channel 1

    func qos(prefetch: Int) throws(AMQPFailure) {
        amqp_basic_qos(self.state, Self.mainChannel, 0, UInt16(clamping: prefetch), 0)
        try self.check(amqp_get_rpc_reply(self.state), "basic.qos")
    }

    /// Starts consuming `queue` with manual acknowledgements.
    func consume(queue: String) throws(AMQPFailure) {
        let arena = CArena()
        amqp_basic_consume(
            self.state,
            Self.mainChannel,
            arena.bytes(queue),
            amqp_bytes_t(len: 0, bytes: nil),
            0,
            0,
            0,
            amqp_table_t(num_entries: 0, entries: nil)
        )
        try self.check(amqp_get_rpc_reply(self.state), "basic.consume \(queue)")
    }

    /// Sends `message`; returns its publisher-confirm tag.
    @discardableResult
    func publish(_ message: OutgoingMessage) throws(AMQPFailure) -> UInt64 {
        let arena = CArena()
        var properties = arena.properties(message.properties)
        let status = amqp_basic_publish(
            self.state,
            Self.mainChannel,
            arena.bytes(message.exchange),
            arena.bytes(message.routingKey),
            message.mandatory ? 1 : 0,
            0,
            &properties,
            arena.bytes(message.body)
        )
        guard status == AMQP_STATUS_OK.rawValue else { throw AMQPFailure(operation: "basic.publish", kind: .library(status)) }
        let tag = self.nextPublishTag
        self.nextPublishTag += 1
        return tag
    }

    func ack(deliveryTag: UInt64) throws(AMQPFailure) {
        let status = amqp_basic_ack(self.state, Self.mainChannel, deliveryTag, 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw AMQPFailure(operation: "basic.ack", kind: .library(status)) }
    }

    func nack(deliveryTag: UInt64, requeue: Bool) throws(AMQPFailure) {
        let status = amqp_basic_nack(self.state, Self.mainChannel, deliveryTag, 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw AMQPFailure(operation: "basic.nack", kind: .library(status)) }
    }

    // MARK: Frames

    /// The next frame if one is available now (also sends a heartbeat when one is due); nil when none is.
    func nextFrame() throws(AMQPFailure) -> Frame? {
        amqp_maybe_release_buffers(self.state)
        var frame = amqp_frame_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(self.state, &frame, &immediately)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else { throw AMQPFailure(operation: "read", kind: .library(status)) }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return .other }
        let method = frame.payload.method
        guard let decoded = method.decoded else { return .other }
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            return .deliver(
                deliveryTag: deliver.delivery_tag,
                redelivered: deliver.redelivered != 0,
                exchange: CDecode.string(deliver.exchange),
                routingKey: CDecode.string(deliver.routing_key)
            )
        case AMQP_BASIC_ACK_METHOD:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(tag: ack.delivery_tag, multiple: ack.multiple != 0)
        case AMQP_BASIC_NACK_METHOD:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(tag: nack.delivery_tag, multiple: nack.multiple != 0)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            return .returned(
                code: returned.reply_code,
                text: CDecode.string(returned.reply_text),
                exchange: CDecode.string(returned.exchange),
                routingKey: CDecode.string(returned.routing_key)
            )
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            _ = bookstore_amqp_send_channel_close_ok(self.state, frame.channel)
            if frame.channel == Self.topologyChannel { self.topologyChannelOpen = false }
            return .channelClosed(channel: frame.channel, code: close.reply_code, text: CDecode.string(close.reply_text))
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            _ = bookstore_amqp_send_connection_close_ok(self.state)
            self.isOpen = false
            return .connectionClosed(code: close.reply_code, text: CDecode.string(close.reply_text))
        case AMQP_BASIC_CANCEL_METHOD:
            return .consumerCancelled
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(reason: CDecode.string(blocked.reason))
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            return .unblocked
        default:
            return .other
        }
    }

    /// The content (properties and body) that follows a `basic.deliver` or `basic.return` on channel 1.
    func readContent() throws(AMQPFailure) -> (properties: WireProperties, body: [UInt8]) {
        var message = amqp_message_t()
        let reply = amqp_read_message(self.state, Self.mainChannel, &message, 0)
        try self.check(reply, "read message")
        defer { amqp_destroy_message(&message) }
        return (CDecode.properties(message.properties), CDecode.byteArray(message.body))
    }

    // MARK: Helpers

    private func check(_ reply: amqp_rpc_reply_t, _ operation: String) throws(AMQPFailure) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw AMQPFailure(operation: operation, kind: .channel(code: close.reply_code, text: CDecode.string(close.reply_text)))
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                _ = bookstore_amqp_send_connection_close_ok(self.state)
                self.isOpen = false
                throw AMQPFailure(operation: operation, kind: .connection(code: close.reply_code, text: CDecode.string(close.reply_text)))
            }
            throw AMQPFailure(operation: operation, kind: .connection(code: 0, text: "unexpected method \(reply.reply.id)"))
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            self.isOpen = false
            throw AMQPFailure(operation: operation, kind: .library(reply.library_error))
        default:
            self.isOpen = false
            throw AMQPFailure(operation: operation, kind: .library(AMQP_STATUS_UNEXPECTED_STATE.rawValue))
        }
    }

    static func timeValue(_ duration: Duration) -> timeval {
        let nanoseconds = Backoff.nanoseconds(duration)
        return timeval(tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int((nanoseconds % 1_000_000_000) / 1000))
    }
}
