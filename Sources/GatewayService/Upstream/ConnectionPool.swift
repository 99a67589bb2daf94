import NIOCore
import NIOPosix
import Synchronization

#if os(Linux)
import SocketLoop
#endif

/// Keep-alive connections to replicas, one pool per event loop: an exchange always uses connections on its own event
/// loop, so proxying a request never crosses threads. Not thread-safe: used only on `eventLoop`.
final class ConnectionPool {
    let eventLoop: any EventLoop
    private let connectTimeout: TimeAmount
    private let maxIdlePerEndpoint: Int
    private let idleTimeout: TimeAmount
    private var idle: [ObjectIdentifier: IdleConnections] = [:]
    /// The list of the replica used last (requests mostly go to the same few replicas): found without hashing.
    private var lastIdle: (key: ObjectIdentifier, list: IdleConnections)?

    /// Idle connections to one replica, most recently used last (a class, so that it changes in place).
    private final class IdleConnections {
        var connections: [UpstreamConnection] = []
    }

    /// The exchanges waiting for a response, checked for their timeout by one periodic sweep instead of a timer per
    /// request.
    private var watched: [ProxyExchange] = []
    private var sweep: NIOScheduledCallback?
    /// How often the sweep runs (so a timeout fires up to this much late).
    static let sweepInterval = TimeAmount.milliseconds(25)

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount, maxIdlePerEndpoint: Int, idleTimeout: TimeAmount = .seconds(60)) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }

    /// The most recently used open idle connection to `endpoint`, if any.
    func takeIdle(to endpoint: ReplicaEndpoint, now: NIODeadline = .now()) -> UpstreamConnection? {
        guard let list = self.idleList(for: ObjectIdentifier(endpoint), creating: false), !list.connections.isEmpty else { return nil }
        while let connection = list.connections.popLast() {
            connection.isIdle = false
            if connection.isActive {
                if now - connection.idleSince < self.idleTimeout { return connection }
            }
            connection.close()
        }
        return nil
    }

    /// Opens a new connection to `endpoint` (TCP_NODELAY, the connect timeout): a SocketLoop socket when the pool's
    /// loop is a SocketLoop event loop, a SwiftNIO channel otherwise.
    func connect(to endpoint: ReplicaEndpoint) -> EventLoopFuture<UpstreamConnection> {
        #if os(Linux)
        if let loop = self.eventLoop as? SocketEventLoop {
            let promise = loop.makePromise(of: UpstreamConnection.self)
            loop.connect(to: endpoint.address, timeout: self.connectTimeout, handler: UpstreamSocketConnector(endpoint: endpoint, promise: promise))
            return promise.futureResult
        }
        #endif
        return ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnectionHandler())
                }
            }
            .connect(to: endpoint.address)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                let connection = UpstreamConnection(transport: .channel(channel, handler), endpoint: endpoint)
                handler.connection = connection
                return connection
            }
    }

    /// Keeps a connection whose exchange completed cleanly for the next request to the same replica.
    func release(_ connection: UpstreamConnection, now: NIODeadline = .now()) {
        guard connection.isActive else { return }
        let list = self.idleList(for: ObjectIdentifier(connection.endpoint), creating: true)!
        if list.connections.count >= 8, !list.connections[0].isActive {
            // Connections the replica closed while idle are dropped when found (no per-connection callbacks).
            list.connections.removeAll { !$0.isActive }
        }
        guard list.connections.count < self.maxIdlePerEndpoint else {
            connection.close()
            return
        }
        connection.delegate = nil
        connection.resumeReading()
        connection.idleSince = now
        connection.isIdle = true
        list.connections.append(connection)
    }

    /// The idle connections to the replica `key`, if it has a list (or `creating`).
    private func idleList(for key: ObjectIdentifier, creating: Bool) -> IdleConnections? {
        if let last = self.lastIdle, last.key == key { return last.list }
        let list: IdleConnections
        if let existing = self.idle[key] {
            list = existing
        } else {
            guard creating else { return nil }
            list = IdleConnections()
            self.idle[key] = list
        }
        self.lastIdle = (key, list)
        return list
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        let all = self.idle.values.flatMap(\.connections)
        self.idle = [:]
        self.lastIdle = nil
        for connection in all {
            connection.isIdle = false
            connection.close()
        }
    }

    // MARK: Response timeouts

    /// Starts checking `exchange` for its response timeout.
    func watch(_ exchange: ProxyExchange) {
        guard exchange.watchIndex < 0 else { return }
        exchange.watchIndex = self.watched.count
        self.watched.append(exchange)
        if self.sweep == nil { self.scheduleSweep() }
    }

    /// Stops checking `exchange`.
    func unwatch(_ exchange: ProxyExchange) {
        let index = exchange.watchIndex
        guard index >= 0 else { return }
        exchange.watchIndex = -1
        let last = self.watched.removeLast()
        if index < self.watched.count {
            self.watched[index] = last
            last.watchIndex = index
        }
    }

    private func scheduleSweep() {
        self.sweep = try? self.eventLoop.assumeIsolated().scheduleCallback(in: Self.sweepInterval, handler: SweepHandler(pool: self))
    }

    fileprivate func runSweep() {
        self.sweep = nil
        let now = NIODeadline.now()
        var expired: [ProxyExchange] = []
        for exchange in self.watched where exchange.isTimedOut(at: now) { expired.append(exchange) }
        for exchange in expired { exchange.responseTimedOut() }
        if !self.watched.isEmpty { self.scheduleSweep() }
    }
}

private struct SweepHandler: NIOScheduledCallbackHandler {
    let pool: ConnectionPool

    func handleScheduledCallback(eventLoop: some EventLoop) {
        self.pool.runSweep()
    }
}
