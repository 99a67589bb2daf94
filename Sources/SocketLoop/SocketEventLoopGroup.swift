#if os(Linux)
import Dispatch
import NIOCore
import Synchronization

/// A group of ``SocketEventLoop``s: one thread each, with non-blocking sockets on epoll.
///
/// A connection here costs what it costs the kernel and little more: `socket`, `setsockopt(TCP_NODELAY)`, `connect`
/// (or `accept4`), one `epoll_ctl` (edge-triggered, for reading and writing at once, so that the loop never changes
/// its interest), `send`, `read`, `close`. SwiftNIO's channels pay for a bootstrap, a pipeline, a chain of futures and
/// seven more system calls per connection (address look-ups, `SO_ERROR`, interest changes), which doubled the load
/// generator's CPU per request against servers that close every connection.
public final class SocketEventLoopGroup: EventLoopGroup, @unchecked Sendable {
    private let loops: [SocketEventLoop]
    private let counter = Atomic<Int>(0)

    /// Starts `numberOfThreads` loops (at least one), their threads named `namePrefix-N`.
    public init(numberOfThreads: Int, namePrefix: String = "socket-loop") {
        loops = (0..<max(1, numberOfThreads)).map { SocketEventLoop(name: "\(namePrefix)-\($0)") }
    }

    /// The loops, in order.
    public var socketLoops: [SocketEventLoop] { loops }

    public func next() -> any EventLoop {
        loops[counter.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    public func any() -> any EventLoop {
        if let current = loops.first(where: { $0.inEventLoop }) { return current }
        return next()
    }

    public func makeIterator() -> EventLoopIterator {
        EventLoopIterator(loops.map { $0 as any EventLoop })
    }

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let group = DispatchGroup()
        for loop in loops {
            group.enter()
            loop.shutdownGracefully(queue: queue) { _ in group.leave() }
        }
        group.notify(queue: queue) { callback(nil) }
    }
}
#endif
