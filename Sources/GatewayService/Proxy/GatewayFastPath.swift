import NIOCore
import Synchronization

#if os(Linux)
import Glibc
import HummingbirdCore
import Logging
import NIOPosix
import ServiceLifecycle
import SocketLoop

/// The gateway's front end on SocketLoop event loops (`GATEWAY_FAST_PATH`, on by default on Linux): one listener per
/// loop on the gateway's port (`SO_REUSEPORT`, the kernel spreads connections), each connection served by a
/// ``GatewayConnectionHandler`` on its socket and proxied with upstream connections of that loop's pool — no SwiftNIO
/// channel pipeline on the proxied path. A request for the router (the gateway's own endpoints, CORS preflights,
/// unknown paths) hands its connection over to a SwiftNIO channel with Hummingbird's HTTP/1.1 handlers (the
/// ``RouterHandOff``), which serves the rest of that connection; Hummingbird's own listener is then on an internal
/// loopback port.
///
/// On a graceful shutdown the listeners close, idle connections close at once and busy ones after their response
/// (on the loops and on the channels handed over), and the service ends when they are gone (at most
/// ``drainLimit`` later).
final class GatewayFastPath: Service, Sendable {
    let loops: SocketEventLoopGroup
    let handOff: RouterHandOff
    let port: Int
    private let pools: ConnectionPools
    private let acceptors: [NIOLoopBound<FastPathAcceptor>]
    private let nioGroup: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let adopted = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let isShuttingDown = Atomic<Bool>(false)
    /// How long a graceful shutdown waits for connections to finish before closing them.
    static let drainLimit = TimeAmount.seconds(30)

    /// Starts listening on `host:port` (port 0: one the kernel chooses, then shared by every loop).
    init(proxy: GatewayProxy, host: String, port: Int, loopCount: Int, nioGroup: MultiThreadedEventLoopGroup, logger: Logger) async throws {
        let loops = SocketEventLoopGroup(numberOfThreads: loopCount, namePrefix: "gateway-loop")
        let handOff = RouterHandOff()
        var proxy = proxy
        proxy.routerHandOff = handOff
        var acceptors: [NIOLoopBound<FastPathAcceptor>] = []
        var boundPort = port
        // Several loops share the port with SO_REUSEPORT, which would also let a second gateway (or a stale one) of
        // the same user listen on it unnoticed: a plain listener is bound first, so that a port in use fails startup.
        let sharesPort = loopCount > 1
        do {
            let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            if sharesPort, port != 0 {
                let first = loops.socketLoops[0]
                try await first.submit {
                    try first.listen(on: address, handler: ClosingAcceptor()).close()
                }.get()
            }
            for loop in loops.socketLoops {
                let listenPort = boundPort
                let proxy = proxy
                let (acceptor, listening) = try await loop.submit {
                    let acceptor = FastPathAcceptor(proxy: proxy)
                    var local = address
                    local.port = listenPort
                    let listener = try loop.listen(on: local, reusePort: sharesPort, handler: acceptor)
                    acceptor.listener = listener
                    return (NIOLoopBound(acceptor, eventLoop: loop), listener.localAddress.port ?? listenPort)
                }.get()
                boundPort = listening
                acceptors.append(acceptor)
            }
        } catch {
            try? await loops.shutdownGracefully()
            throw error
        }
        self.loops = loops
        self.handOff = handOff
        self.port = boundPort
        self.pools = proxy.pools
        self.acceptors = acceptors
        self.nioGroup = nioGroup
        self.logger = logger
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await adoption in self.handOff.adoptions {
                    group.addTask { await self.serve(adoption) }
                }
            }
            await self.waitForConnections()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        for loop in self.loops.socketLoops { await self.pools.closeAndRemove(eventLoop: loop) }
        try? await self.loops.shutdownGracefully()
    }

    /// Serves a connection handed over for the router on a SwiftNIO channel, until it closes.
    private func serve(_ adoption: RouterHandOff.Adoption) async {
        guard let childChannel = await self.handOff.childChannel() else {
            Glibc.close(adoption.fd)
            return
        }
        let logger = self.logger
        do {
            let (channel, value) = try await ClientBootstrap(group: self.nioGroup)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .withConnectedSocket(adoption.fd) { channel in
                    childChannel.setup(channel: channel, logger: logger).flatMapThrowing { value in
                        try channel.pipeline.syncOperations.addHandler(ReplayHandler(bytes: adoption.bytes), position: .first)
                        return (channel, value)
                    }
                }
            let key = ObjectIdentifier(channel)
            self.adopted.withLock { $0[key] = channel }
            if self.isShuttingDown.load(ordering: .acquiring) {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
            await childChannel.handle(value: value, logger: logger)
            _ = self.adopted.withLock { $0.removeValue(forKey: key) }
        } catch {
            logger.debug("Handing a connection over to the router failed", metadata: ["error.message": .string("\(error)")])
        }
    }

    /// Stops accepting and asks every connection to finish (idle ones close now).
    private func beginShutdown() {
        self.isShuttingDown.store(true, ordering: .releasing)
        for acceptor in self.acceptors {
            acceptor.eventLoop.execute { acceptor.value.shutdown() }
        }
        for channel in self.adopted.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        self.handOff.finish()
    }

    /// Waits until the loops' connections are gone (closing what is left after ``drainLimit``).
    private func waitForConnections() async {
        let deadline = NIODeadline.now() + Self.drainLimit
        while true {
            var open = 0
            for acceptor in self.acceptors {
                open += (try? await acceptor.eventLoop.submit { acceptor.value.connections.count }.get()) ?? 0
            }
            if open == 0 { return }
            if NIODeadline.now() >= deadline {
                for acceptor in self.acceptors {
                    try? await acceptor.eventLoop.submit { acceptor.value.closeAll() }.get()
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Turns connections away (the probe listener that checks the port is free).
private final class ClosingAcceptor: LoopListenerHandler {
    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? { nil }
}

/// The listener of one loop and the connections it accepted (used on that loop only).
final class FastPathAcceptor: LoopListenerHandler {
    private let proxy: GatewayProxy
    var listener: LoopListener?
    private(set) var connections: [ObjectIdentifier: GatewayConnectionHandler] = [:]
    private var isShuttingDown = false

    init(proxy: GatewayProxy) {
        self.proxy = proxy
    }

    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? {
        guard !self.isShuttingDown else { return nil }
        let handler = GatewayConnectionHandler(proxy: self.proxy)
        let key = ObjectIdentifier(handler)
        self.connections[key] = handler
        handler.whenStopped = { [unowned self] in self.connections[key] = nil }
        handler.adopt(socket)
        return handler
    }

    func shutdown() {
        self.isShuttingDown = true
        self.listener?.close()
        for handler in Array(self.connections.values) { handler.shutdownRequested() }
    }

    func closeAll() {
        for handler in Array(self.connections.values) { handler.closeConnection() }
    }
}

/// First in an adopted channel's pipeline: gives the pipeline the bytes read before the hand-over, before anything
/// the channel reads itself, then leaves.
private final class ReplayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var bytes: ByteBuffer?

    init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let bytes = self.bytes {
            self.bytes = nil
            context.fireChannelRead(self.wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
#endif

#if os(Linux)
import Glibc
#endif

/// Where connections go when a request on them is for the router; ``GatewayFastPath`` serves them.
final class RouterHandOff: Sendable {
    struct Adoption: Sendable {
        let fd: Int32
        /// What the loop read of the connection (the router's request head first).
        let bytes: ByteBuffer
    }

    let adoptions: AsyncStream<Adoption>
    private let continuation: AsyncStream<Adoption>.Continuation
    private let channel = Mutex<GatewayHTTP1Channel?>(nil)
    private let waiters = Mutex<[CheckedContinuation<GatewayHTTP1Channel?, Never>]>([])

    init() {
        (self.adoptions, self.continuation) = AsyncStream.makeStream()
    }

    /// Takes the connection `fd` (detached from its loop) with the bytes already read from it.
    func adopt(fd: Int32, bytes: ByteBuffer) {
        if case .terminated = self.continuation.yield(Adoption(fd: fd, bytes: bytes)) {
            #if os(Linux)
            Glibc.close(fd)
            #endif
        }
    }

    func finish() {
        self.continuation.finish()
    }

    /// Hummingbird's HTTP/1.1 child channel, known once its server is built.
    func setChildChannel(_ child: GatewayHTTP1Channel) {
        let waiting = self.channel.withLock { channel in
            channel = child
            return self.waiters.withLock { waiters in
                defer { waiters.removeAll() }
                return waiters
            }
        }
        for waiter in waiting { waiter.resume(returning: child) }
    }

    func childChannel() async -> GatewayHTTP1Channel? {
        await withCheckedContinuation { continuation in
            let child = self.channel.withLock { channel -> GatewayHTTP1Channel? in
                if channel == nil { self.waiters.withLock { $0.append(continuation) } }
                return channel
            }
            if let child { continuation.resume(returning: child) }
        }
    }
}
