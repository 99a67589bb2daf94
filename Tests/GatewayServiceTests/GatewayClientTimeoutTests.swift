import LoopbackPorts
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Clients that stop reading a response, or stop sending a request body the gateway already answered (issue 11,
/// item 8): the gateway closes them after `GATEWAY_CLIENT_WRITE_TIMEOUT_MS` / `GATEWAY_CLIENT_DRAIN_TIMEOUT_MS`.
@Suite struct GatewayClientTimeoutTests {
    @Test func aClientThatStopsReadingIsClosedAndItsUpstreamConnectionReleased() async throws {
        let size = 16 << 20
        let upstream = try await LargeResponseServer.start(bodyBytes: size)
        let extra = ["GATEWAY_CLIENT_WRITE_TIMEOUT_MS": "300", "GATEWAY_READ_TIMEOUT_MS": "5000"]
        try await withGateway(upstreams: allUpstreams(upstream.url), extra: extra) { gateway in
            // A client with a tiny receive buffer that never reads: the kernel buffers fill, then the gateway's
            // outbound buffer, and the client connection stays unwritable.
            let received = SharedCount()
            let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.autoRead, value: false)
                .channelOption(.socketOption(.so_rcvbuf), value: 4096)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteCountingHandler(received: received))
                    }
                }
                .connect(host: "127.0.0.1", port: gateway.port).get()
            let start = ContinuousClock.now
            try await client.writeAndFlush(ByteBuffer(string: "GET /api/reviews/large HTTP/1.1\r\nHost: x\r\n\r\n"))

            // The gateway gives up on the client and closes (does not pool) the upstream connection.
            let released = try await eventually(timeout: .seconds(4)) { upstream.closedConnections > 0 }
            let elapsed = ContinuousClock.now - start
            #expect(released, "the upstream connection is still open after \(elapsed)")
            #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "released after \(elapsed)")

            // The client connection was closed: what it reads now ends before the whole body.
            client.setOption(.autoRead, value: true).whenSuccess { client.read() }
            let closed = try await eventually(timeout: .seconds(3)) { !client.isActive }
            #expect(closed, "the client connection is still open")
            #expect(received.value.load(ordering: .relaxed) < size, "the response was cut off")
            try? await client.close()
        }
        await upstream.stop()
    }

    @Test func aClientThatNeverFinishesABodyAfterAnEarlyAnswerIsClosed() async throws {
        let unreachable = "http://127.0.0.1:\(try refusingPort())"
        try await withUpstreams(["u0"]) { upstreams in
            var replicas = allUpstreams(upstreams[0].url)
            replicas["USER_SERVICE_URL"] = unreachable
            let extra = ["GATEWAY_CLIENT_DRAIN_TIMEOUT_MS": "300", "GATEWAY_CLIENT_IDLE_TIMEOUT_MS": "60000", "GATEWAY_RETRY_BASE_DELAY_MS": "1"]
            try await withGateway(upstreams: replicas, extra: extra) { gateway in
                // An answer at the edge (401: no token), and a failed exchange (503: no replica reachable), each
                // before the body's end; the client then sends nothing more.
                for (request, status) in [
                    ("POST /api/reviews HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc", "401"),
                    ("PUT /api/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(userToken)\r\nContent-Length: 100000\r\n\r\nabc", "503"),
                ] {
                    let start = ContinuousClock.now
                    let raw = try await rawExchange(port: gateway.port, request, timeout: .seconds(6))
                    let elapsed = ContinuousClock.now - start
                    #expect(raw.hasPrefix("HTTP/1.1 \(status)"), "\(raw.prefix(40))")
                    #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "closed after \(elapsed): \(request.prefix(24))")
                }
                #expect(upstreams[0].behaviour.hitCount == 0)
            }
        }
    }
}

/// A loopback upstream that answers every request with a `bodyBytes`-long body, and counts the connections that
/// closed.
final class LargeResponseServer: Sendable {
    let channel: any Channel
    let counter: SharedCount
    var url: String { "http://127.0.0.1:\(self.channel.localAddress?.port ?? 0)" }
    var closedConnections: Int { self.counter.value.load(ordering: .relaxed) }

    private init(channel: any Channel, counter: SharedCount) {
        self.channel = channel
        self.counter = counter
    }

    static func start(bodyBytes: Int) async throws -> LargeResponseServer {
        let closed = SharedCount()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(bodyBytes: bodyBytes, closed: closed))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LargeResponseServer(channel: channel, counter: closed)
    }

    func stop() async {
        try? await self.channel.close()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let bodyBytes: Int
        let closed: SharedCount
        private var received = ""

        init(bodyBytes: Int, closed: SharedCount) {
            self.bodyBytes = bodyBytes
            self.closed = closed
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.received += String(buffer: self.unwrapInboundIn(data))
            guard self.received.contains("\r\n\r\n") else { return }
            self.received = ""
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(self.bodyBytes)\r\n\r\n"
            context.write(self.wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(repeating: UInt8(ascii: "d"), count: self.bodyBytes)), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.closed.value.add(1, ordering: .relaxed)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// A count shared by the handlers of a test server or client.
final class SharedCount: Sendable {
    let value = Atomic<Int>(0)
}

/// Counts the bytes a client connection receives.
final class ByteCountingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received: SharedCount

    init(received: SharedCount) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received.value.add(self.unwrapInboundIn(data).readableBytes, ordering: .relaxed)
    }
}
