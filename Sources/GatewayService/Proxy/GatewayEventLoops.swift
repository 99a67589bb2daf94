import BookstoreCore
import NIOCore
import NIOPosix
import Synchronization

/// The event loops the gateway serves on (the proxy runs each request on its client connection's loop).
///
/// `GATEWAY_EVENT_LOOPS` threads, by default one per CPU this process may run on (``ProcessCPUs/available``): more
/// loop threads than CPUs would pay for a context switch on many requests. That is the size of NIO's shared group once
/// ``ProcessCPUs/sizeSharedEventLoops(environment:)`` ran, and then the shared group is used; other sizes get a
/// process-wide group of their own, never shut down (like NIO's shared group).
enum GatewayEventLoops {
    private static let groups = Mutex<[Int: MultiThreadedEventLoopGroup]>([:])

    static func group(threads: Int?) -> MultiThreadedEventLoopGroup {
        let count = threads ?? ProcessCPUs.available
        if count == NIOSingletons.groupLoopCountSuggestion { return .singleton }
        return self.groups.withLock { groups in
            if let group = groups[count] { return group }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: count)
            groups[count] = group
            return group
        }
    }
}
