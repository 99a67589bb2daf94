#if os(Linux)
import HTTPWire
import LoopbackPorts
import NIOCore
import SocketLoop
import Synchronization
import Testing

@testable import GatewayService

/// Upstream connections on a SocketLoop event loop (a `LoopSocket` under ``UpstreamConnection``), over loopback: the
/// pool opens them, responses are parsed as on a SwiftNIO channel, they go back to the pool and are reused, and
/// failures, malformed responses, bodies delimited by the close and backpressure are reported as the exchange expects.
@Suite struct UpstreamSocketTests {
    /// What a connection reported to the exchange using it.
    final class Collector: UpstreamConnectionDelegate, @unchecked Sendable {
        var status = 0
        var body = ByteBuffer()
        var writability: [Bool] = []
        let done: EventLoopPromise<Outcome>

        enum Outcome: Sendable, Equatable {
            case ended
            case closed(String?)
        }

        init(loop: any EventLoop) { self.done = loop.makePromise() }

        func upstreamReceivedHead(_ head: MessageHead) { self.status = head.status }
        func upstreamReceivedBody(_ buffer: ByteBuffer) {
            var buffer = buffer
            self.body.writeBuffer(&buffer)
        }
        func upstreamReceivedEnd() { self.done.succeed(.ended) }
        func upstreamReadComplete() {}
        func upstreamWritabilityChanged(isWritable: Bool) { self.writability.append(isWritable) }
        func upstreamClosed(error: (any Error)?) { self.done.succeed(.closed(error.map { "\($0)" })) }
    }

    /// A pool on one SocketLoop event loop (used on that loop only).
    final class Fixture: @unchecked Sendable {
        let group = SocketEventLoopGroup(numberOfThreads: 1, namePrefix: "upstream-socket-test")
        var loop: SocketEventLoop { self.group.socketLoops[0] }
        let pool: ConnectionPool

        init() {
            self.pool = ConnectionPool(eventLoop: self.group.socketLoops[0], connectTimeout: .seconds(2), maxIdlePerEndpoint: 4)
        }

        func endpoint(port: Int) throws -> ReplicaEndpoint {
            ReplicaEndpoint(
                address: try SocketAddress(ipAddress: "127.0.0.1", port: port),
                target: ReplicaTarget(host: "127.0.0.1", port: port),
                upstream: "users",
                metrics: nil
            )
        }

        /// Sends `request` (with `Host` and the empty line added) on `connection`; the collector hears the response.
        func send(_ request: String, on connection: UpstreamConnection, extraBody: ByteBuffer? = nil) -> Collector {
            let collector = Collector(loop: self.loop)
            connection.reset()
            connection.delegate = collector
            var bytes = ByteBuffer(string: request)
            bytes.writeImmutableBuffer(connection.endpoint.hostFieldAndEnd)
            connection.write(bytes)
            if let extraBody { connection.write(extraBody) }
            connection.flush()
            return collector
        }

        /// Opens a connection to `endpoint`, sends `request` and waits for the response's outcome.
        func roundTrip(_ request: String, to endpoint: ReplicaEndpoint) async throws -> (UpstreamConnection.Box, Collector, Collector.Outcome) {
            let (box, collector) = try await self.loop.flatSubmit {
                self.pool.connect(to: endpoint).map { connection in (UpstreamConnection.Box(connection), self.send(request, on: connection)) }
            }.get()
            return (box, collector, try await collector.done.futureResult.get())
        }

        func shutdown() async {
            try? await self.group.shutdownGracefully()
        }
    }

    @Test func responsesArriveOverALoopSocketAndItsConnectionIsReused() async throws {
        let upstream = try await TestUpstream.start(name: "users")
        let fixture = Fixture()
        let endpoint = try fixture.endpoint(port: upstream.port)
        let (box, first, outcome) = try await fixture.roundTrip("GET /api/users/1 HTTP/1.1\r\n", to: endpoint)
        #expect(outcome == .ended)
        #expect(first.status == 200)
        #expect(String(buffer: first.body).contains("users/1"))
        let reused = try await fixture.loop.submit { () -> Bool in
            guard case .socket = box.connection.transport else { return false }
            #expect(box.connection.isReusable)
            fixture.pool.release(box.connection)
            return fixture.pool.takeIdle(to: endpoint) === box.connection
        }.get()
        #expect(reused)
        let second = try await fixture.loop.submit { fixture.send("GET /api/users/2 HTTP/1.1\r\n", on: box.connection) }.get()
        #expect(try await second.done.futureResult.get() == .ended)
        #expect(second.status == 200)
        #expect(String(buffer: second.body).contains("users/2"))
        #expect(upstream.behaviour.count(method: "GET") == 2)
        await fixture.shutdown()
        await upstream.stop()
    }

    @Test func aRefusedConnectionFailsTheConnect() async throws {
        let fixture = Fixture()
        let endpoint = try fixture.endpoint(port: try refusingPort())
        await #expect(throws: UpstreamConnectFailed.self) {
            _ = try await fixture.loop.flatSubmit { fixture.pool.connect(to: endpoint).map { UpstreamConnection.Box($0) } }.get()
        }
        await fixture.shutdown()
    }

    @Test func aMalformedResponseClosesTheConnectionAndSaysWhy() async throws {
        let fixture = Fixture()
        let server = try await RawServer.start(on: fixture.loop, reply: "HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n")
        let (box, _, outcome) = try await fixture.roundTrip("GET / HTTP/1.1\r\n", to: try fixture.endpoint(port: server.port))
        guard case .closed(let reason) = outcome else {
            Issue.record("expected a close, got \(outcome)")
            return
        }
        #expect(reason != nil)
        #expect(try await fixture.loop.submit { box.connection.isActive }.get() == false)
        await fixture.shutdown()
    }

    @Test func aBodyDelimitedByTheCloseEndsWithTheConnection() async throws {
        let fixture = Fixture()
        let server = try await RawServer.start(on: fixture.loop, reply: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", thenClose: true)
        let (box, collector, outcome) = try await fixture.roundTrip("GET / HTTP/1.1\r\n", to: try fixture.endpoint(port: server.port))
        #expect(outcome == .ended)
        #expect(collector.status == 200)
        #expect(String(buffer: collector.body) == "hello")
        #expect(try await fixture.loop.submit { box.connection.isReusable }.get() == false)
        await fixture.shutdown()
    }

    @Test func writabilityFollowsTheSocketsPendingBytes() async throws {
        let fixture = Fixture()
        let server = try await RawServer.start(on: fixture.loop, reply: nil)
        let endpoint = try fixture.endpoint(port: server.port)
        let box = try await fixture.loop.flatSubmit { fixture.pool.connect(to: endpoint).map { UpstreamConnection.Box($0) } }.get()
        // 8 MiB to a server that does not read: more than the kernel's buffers take, so the socket holds bytes back.
        let collector = try await fixture.loop.submit { () -> Collector in
            let body = ByteBuffer(repeating: UInt8(ascii: "b"), count: 8 << 20)
            return fixture.send("POST / HTTP/1.1\r\nContent-Length: \(body.readableBytes)\r\n", on: box.connection, extraBody: body)
        }.get()
        #expect(try await fixture.loop.submit { (collector.writability, box.connection.isWritable) }.get() == ([false], false))
        try await fixture.loop.submit { server.resumeReading() }.get()
        var writable = false
        for _ in 0..<500 where !writable {
            writable = try await fixture.loop.submit { box.connection.isWritable }.get()
            if !writable { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(writable)
        #expect(try await fixture.loop.submit { collector.writability }.get() == [false, true])
        // Never answered: closing the connection tells the exchange.
        try await fixture.loop.submit { box.connection.close() }.get()
        #expect(try await collector.done.futureResult.get() == .closed(nil))
        await fixture.shutdown()
    }
}

extension UpstreamConnection {
    /// Carries a connection out of its loop for a test to hand back to the loop (it is used on the loop only).
    struct Box: @unchecked Sendable {
        let connection: UpstreamConnection
        init(_ connection: UpstreamConnection) { self.connection = connection }
    }
}

/// A loopback server on a SocketLoop event loop: answers the first bytes of each connection with `reply` (and then
/// closes it, if asked), or, with no reply, does not read at all until ``resumeReading()``.
final class RawServer: LoopListenerHandler, LoopSocketHandler, @unchecked Sendable {
    let reply: String?
    let thenClose: Bool
    private(set) var port = 0
    private var listener: LoopListener?
    private var accepted: [LoopSocket] = []

    private init(reply: String?, thenClose: Bool) {
        self.reply = reply
        self.thenClose = thenClose
    }

    static func start(on loop: SocketEventLoop, reply: String?, thenClose: Bool = false) async throws -> RawServer {
        let server = RawServer(reply: reply, thenClose: thenClose)
        try await loop.submit {
            let listener = try loop.listen(on: try SocketAddress(ipAddress: "127.0.0.1", port: 0), handler: server)
            server.listener = listener
            server.port = listener.localAddress.port ?? 0
        }.get()
        return server
    }

    func resumeReading() {
        for socket in self.accepted { socket.resumeReading() }
    }

    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? {
        if self.reply == nil { socket.pauseReading() }
        self.accepted.append(socket)
        return self
    }

    func socketConnected(_ socket: LoopSocket) {}
    func socketConnectFailed(_ socket: LoopSocket) {}
    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        guard let reply = self.reply else { return }
        socket.write(ByteBuffer(string: reply))
        if self.thenClose { socket.close() }
    }
    func socketClosed(_ socket: LoopSocket) {}
}
#endif
