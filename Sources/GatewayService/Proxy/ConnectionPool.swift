import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive connections to replicas, one pool per event loop: an exchange always uses connections on its own event
/// loop, so proxying a request never crosses threads. Not thread-safe: used only on `eventLoop`.
final class ConnectionPool {
    let eventLoop: any EventLoop
    private let connectTimeout: TimeAmount
    private let maxIdlePerEndpoint: Int
    private let idleTimeout: TimeAmount
    private var idle: [ObjectIdentifier: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount, maxIdlePerEndpoint: Int, idleTimeout: TimeAmount = .seconds(60)) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }

    /// The most recently used open idle connection to `endpoint`, if any.
    func takeIdle(to endpoint: ReplicaEndpoint) -> UpstreamConnection? {
        let key = ObjectIdentifier(endpoint)
        guard var connections = self.idle[key], !connections.isEmpty else { return nil }
        defer { self.idle[key] = connections }
        let now = NIODeadline.now()
        while let connection = connections.popLast() {
            if connection.isActive && now - connection.idleSince < self.idleTimeout {
                connection.handler.onClose = nil
                return connection
            }
            connection.handler.onClose = nil
            connection.close()
        }
        return nil
    }

    /// Opens a new connection to `endpoint` (TCP_NODELAY, the connect timeout, NIO's HTTP/1.1 client codec).
    func connect(to endpoint: ReplicaEndpoint) -> EventLoopFuture<UpstreamConnection> {
        ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnectionHandler())
                }
            }
            .connect(to: endpoint.address)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                return UpstreamConnection(channel: channel, endpoint: endpoint, handler: handler)
            }
    }

    /// Keeps a connection whose exchange completed cleanly for the next request to the same replica.
    func release(_ connection: UpstreamConnection) {
        guard connection.isActive else { return }
        let key = ObjectIdentifier(connection.endpoint)
        var connections = self.idle.removeValue(forKey: key) ?? []
        guard connections.count < self.maxIdlePerEndpoint else {
            self.idle[key] = connections
            connection.close()
            return
        }
        connection.handler.delegate = nil
        connection.handler.resumeReading()
        connection.idleSince = .now()
        connection.handler.onClose = { [unowned self, unowned connection] in self.forget(connection) }
        connections.append(connection)
        self.idle[key] = connections
    }

    private func forget(_ connection: UpstreamConnection) {
        let key = ObjectIdentifier(connection.endpoint)
        guard var connections = self.idle.removeValue(forKey: key) else { return }
        connections.removeAll { $0 === connection }
        if !connections.isEmpty { self.idle[key] = connections }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        let all = self.idle.values.flatMap { $0 }
        self.idle = [:]
        for connection in all {
            connection.handler.onClose = nil
            connection.close()
        }
    }
}

/// One ``ConnectionPool`` per event loop, created on first use.
final class ConnectionPools: Sendable {
    private let pools = Mutex<[ObjectIdentifier: NIOLoopBound<ConnectionPool>]>([:])
    private let connectTimeout: TimeAmount
    private let maxIdlePerEndpoint: Int

    init(connectTimeout: TimeAmount, maxIdlePerEndpoint: Int) {
        self.connectTimeout = connectTimeout
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
    }

    /// The pool of `eventLoop`; call on that event loop.
    func pool(for eventLoop: any EventLoop) -> ConnectionPool {
        let key = ObjectIdentifier(eventLoop)
        if let pool = self.pools.withLock({ $0[key] }) { return pool.value }
        let pool = ConnectionPool(eventLoop: eventLoop, connectTimeout: self.connectTimeout, maxIdlePerEndpoint: self.maxIdlePerEndpoint)
        let bound = self.pools.withLock { pools in
            if let existing = pools[key] { return existing }
            let bound = NIOLoopBound(pool, eventLoop: eventLoop)
            pools[key] = bound
            return bound
        }
        return bound.value
    }
}
