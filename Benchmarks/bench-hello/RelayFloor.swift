import NIOCore
import NIOPosix

#if canImport(Glibc)
import CEpoll
import Glibc
import SocketLoop
#endif

/// The floors of `ci/bench-gateway`: the cheapest a proxy written in Swift can be on this machine, with SwiftNIO's
/// channels, with plain non-blocking sockets on epoll, and with SocketLoop (the same sockets behind an event loop). Both are byte relays on one thread: every accepted
/// connection gets its own upstream connection, and whatever one side sends is written to the other as it came. No
/// parsing, routing, headers, pooling, timers or metrics — the gateway does all of those — so a proxy that does any
/// work costs more than its floor.
enum RelayFloor {
    /// A relay on one SwiftNIO event loop: `ServerBootstrap` and `ClientBootstrap`, one handler per side, a write per
    /// read and a flush per read burst (`channelReadComplete`), as SwiftNIO's own examples relay.
    static func nio(port: Int, upstreamPort: Int) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try SocketAddress(ipAddress: "127.0.0.1", port: upstreamPort)
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { downstream in
                downstream.setOption(.autoRead, value: false).flatMap {
                    ClientBootstrap(group: downstream.eventLoop)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .channelInitializer { $0.pipeline.addHandler(GlueHandler(peer: downstream)) }
                        .connect(to: upstream)
                }.flatMap { upstreamChannel in
                    downstream.pipeline.addHandler(GlueHandler(peer: upstreamChannel)).flatMap {
                        downstream.setOption(.autoRead, value: true)
                    }
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .wait()
        try server.closeFuture.wait()
    }

    /// Copies one side's bytes to the other and closes both when either closes.
    final class GlueHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private let peer: any Channel

        init(peer: any Channel) {
            self.peer = peer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.peer.write(self.unwrapInboundIn(data), promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            self.peer.flush()
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.peer.close(promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    #if canImport(Glibc)
    /// A relay on one thread with non-blocking sockets and edge-triggered epoll: `accept`, `connect`, then `read` and
    /// `write` of each burst (what nginx does per request, less its HTTP work).
    static func sockets(port: Int, upstreamPort: Int) {
        let poll = epoll_create1(0)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var address = loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(bound == 0 && listen(listener, 1024) == 0, "cannot listen on 127.0.0.1:\(port)")
        watch(poll, listener, events: EPOLLIN.rawValue)
        // The other end of each relayed descriptor.
        var peers = [Int32](repeating: -1, count: 65536)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let count = epoll_wait(poll, &events, Int32(events.count), -1)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let descriptor = events[index].data.fd
                if descriptor == listener {
                    while case let client = accept(listener, nil, nil), client >= 0 {
                        let upstream = connectBlocking(port: upstreamPort)
                        guard client < peers.count, upstream >= 0, upstream < peers.count else {
                            close(client)
                            if upstream >= 0 { close(upstream) }
                            continue
                        }
                        for side in [client, upstream] {
                            _ = fcntl(side, F_SETFL, O_NONBLOCK)
                            setsockopt(side, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
                            watch(poll, side, events: EPOLLIN.rawValue | EPOLLET.rawValue | EPOLLRDHUP.rawValue)
                        }
                        peers[Int(client)] = upstream
                        peers[Int(upstream)] = client
                    }
                    continue
                }
                let peer = peers[Int(descriptor)]
                guard peer >= 0 else { continue }
                var open = true
                while true {
                    let received = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    if received > 0 {
                        // Small responses on loopback: the peer's send buffer takes them whole (a floor, not a proxy).
                        _ = buffer.withUnsafeBytes { write(peer, $0.baseAddress, received) }
                        if received < buffer.count { break }
                    } else {
                        open = received < 0 && errno == EAGAIN
                        break
                    }
                }
                if !open {
                    peers[Int(descriptor)] = -1
                    peers[Int(peer)] = -1
                    close(descriptor)
                    close(peer)
                }
            }
        }
    }

    /// A relay on one ``SocketEventLoop``: a ``LoopListener`` accepts, each client's reading waits (paused) until its
    /// upstream connection is up, then each side's bytes are written to the other, coalesced per loop iteration
    /// (``LoopSocket/writeCoalesced(_:)``, as SwiftNIO's relay flushes once per read burst). The cost of
    /// SocketLoop's abstraction (tasks, timers, handlers) over ``sockets(port:upstreamPort:)``.
    static func loop(port: Int, upstreamPort: Int) throws {
        let group = SocketEventLoopGroup(numberOfThreads: 1, namePrefix: "relay-loop")
        let loop = group.socketLoops[0]
        let upstream = try SocketAddress(ipAddress: "127.0.0.1", port: upstreamPort)
        let listen = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        try loop.submit {
            let acceptor = LoopRelayAcceptor(upstream: upstream)
            _ = try loop.listen(on: listen, backlog: 1024, handler: acceptor)
        }.wait()
        while true { sleep(3600) }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func connectBlocking(port: Int) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 {
            close(descriptor)
            return -1
        }
        return descriptor
    }

    private static func watch(_ poll: Int32, _ descriptor: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = descriptor
        epoll_ctl(poll, EPOLL_CTL_ADD, descriptor, &event)
    }
    #endif
}

#if canImport(Glibc)
/// Accepts for ``RelayFloor/loop(port:upstreamPort:)``: one ``LoopRelayPair`` per client.
private final class LoopRelayAcceptor: LoopListenerHandler, @unchecked Sendable {
    let upstream: SocketAddress

    init(upstream: SocketAddress) {
        self.upstream = upstream
    }

    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? {
        let pair = LoopRelayPair(client: socket)
        socket.pauseReading()
        socket.eventLoop.connect(to: upstream, timeout: .seconds(5), handler: pair)
        return pair
    }
}

/// A client and its upstream connection, each writing what it reads to the other and closing with it.
private final class LoopRelayPair: LoopSocketHandler {
    let client: LoopSocket
    var upstream: LoopSocket?

    init(client: LoopSocket) {
        self.client = client
    }

    func socketConnected(_ socket: LoopSocket) {
        upstream = socket
        client.resumeReading()
    }

    func socketConnectFailed(_ socket: LoopSocket) {
        client.close()
    }

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        let peer = socket === client ? upstream : client
        peer?.writeCoalesced(ByteBuffer(bytes: bytes))
    }

    func socketClosed(_ socket: LoopSocket) {
        if socket === client {
            upstream?.close()
        } else {
            client.close()
        }
        upstream = nil
    }
}
#endif
