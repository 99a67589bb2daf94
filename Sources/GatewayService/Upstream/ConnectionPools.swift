import NIOCore
import NIOPosix
import Synchronization

/// One ``ConnectionPool`` per event loop, created on first use.
final class ConnectionPools: Sendable {
    /// Closes the idle connections of every pool.
    func closeAll() async {
        let pools = self.pools.withLock { Array($0.values) }
        for bound in pools {
            try? await bound.eventLoop.submit { bound.value.closeAll() }.get()
        }
    }

    /// Closes the idle connections of `eventLoop`'s pool and forgets it (its loop is about to stop).
    func closeAndRemove(eventLoop: any EventLoop) async {
        guard let bound = self.pools.withLock({ $0.removeValue(forKey: ObjectIdentifier(eventLoop)) }) else { return }
        try? await bound.eventLoop.submit { bound.value.closeAll() }.get()
    }

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
