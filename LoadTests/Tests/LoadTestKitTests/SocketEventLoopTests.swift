#if os(Linux)
import LoopbackPorts
import NIOCore
import NIOPosix
import Synchronization
import SocketLoop
import Testing

@testable import LoadTestKit

/// The engine's own event loops (SocketLoop, for ``LoadTransport/sockets``): tasks, timers and client sockets. Only orderings and outcomes are
/// asserted, never durations.
@Suite struct SocketEventLoopTests {
    @Test func tasksRunOnTheLoop() async throws {
        let group = SocketEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        #expect(!loop.inEventLoop)
        #expect(try await loop.submit { loop.inEventLoop }.get())
        let value = try await loop.flatSubmit { loop.makeSucceededFuture(42) }.get()
        #expect(value == 42)
        // Tasks queued from the loop itself run after the current one, in order.
        let order = try await loop.submit { () -> EventLoopFuture<[Int]> in
            let seen = NIOLoopBoundBox([Int](), eventLoop: loop)
            let promise = loop.makePromise(of: [Int].self)
            loop.execute { seen.value.append(1) }
            loop.execute { seen.value.append(2) }
            loop.execute { promise.succeed(seen.value) }
            seen.value.append(0)
            return promise.futureResult
        }.get().get()
        #expect(order == [0, 1, 2])
        try await group.shutdownGracefully()
    }

    @Test func timersFireInDeadlineOrderAndCancelledOnesNever() async throws {
        let group = SocketEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let fired = Mutex<[Int]>([])
        let now = NIODeadline.now()
        let third = loop.scheduleTask(deadline: now + .milliseconds(60)) { fired.withLock { $0.append(3) } }
        let first = loop.scheduleTask(deadline: now + .milliseconds(20)) { fired.withLock { $0.append(1) } }
        let cancelled = loop.scheduleTask(deadline: now + .milliseconds(30)) { fired.withLock { $0.append(99) } }
        let second = loop.scheduleTask(in: .milliseconds(40)) { fired.withLock { $0.append(2) } }
        cancelled.cancel()
        try await first.futureResult.get()
        try await second.futureResult.get()
        try await third.futureResult.get()
        await #expect(throws: EventLoopError.self) { try await cancelled.futureResult.get() }
        #expect(fired.withLock { $0 } == [1, 2, 3])
        // A scheduled callback (as the engine's timers use) fires too.
        let callbackFired = loop.makePromise(of: Void.self)
        _ = try await loop.submit {
            try loop.assumeIsolated().scheduleCallback(at: .now() + .milliseconds(5), handler: PromiseCallback(promise: callbackFired))
        }.get()
        try await callbackFired.futureResult.get()
        try await group.shutdownGracefully()
    }

    @Test func socketConnectsSendsReceivesAndReportsTheClose() async throws {
        try await withTestServer { server in
            let group = SocketEventLoopGroup(numberOfThreads: 1)
            let loop = group.next() as! SocketEventLoop
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: server.port)
            let recorder = try await loop.submit {
                let recorder = SocketRecorder(loop: loop, request: "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                loop.connect(to: address, timeout: .seconds(5), handler: recorder)
                return NIOLoopBound(recorder, eventLoop: loop)
            }.get()
            let events = try await loop.flatSubmit { recorder.value.finished.futureResult }.get()
            #expect(events.first == "connected")
            #expect(events.last == "closed")
            #expect(events.filter { $0 == "closed" }.count == 1)
            let response = events.dropFirst().dropLast().joined()
            #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
            #expect(server.requestCount.load(ordering: .relaxed) == 1)
            try await group.shutdownGracefully()
        }
    }

    @Test func connectToAPortNobodyListensOnFails() async throws {
        // Bound and never listening for the whole run: a port a server released may be given to another test's
        // listener running in parallel (a CI run connected to a hand-off test's listener this way).
        let port = try refusingPort()
        let group = SocketEventLoopGroup(numberOfThreads: 1)
        let loop = group.next() as! SocketEventLoop
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let recorder = try await loop.submit {
            let recorder = SocketRecorder(loop: loop, request: "")
            loop.connect(to: address, timeout: .seconds(5), handler: recorder)
            return NIOLoopBound(recorder, eventLoop: loop)
        }.get()
        let events = try await loop.flatSubmit { recorder.value.finished.futureResult }.get()
        #expect(events == ["connect failed"])
        try await group.shutdownGracefully()
    }

    /// A connect that never completes (a listener whose accept queue is full drops the SYN) fails at the connect
    /// timeout instead of waiting for ever.
    @Test func connectTimesOut() async throws {
        // A listener on 127.0.0.1 with a backlog of 0 that never accepts (no reads on the server channel): one
        // connection fills its queue.
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let listener = try await ServerBootstrap(group: serverGroup)
            .serverChannelOption(.backlog, value: 0)
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = listener.localAddress!.port!
        let group = SocketEventLoopGroup(numberOfThreads: 1)
        let loop = group.next() as! SocketEventLoop
        let target = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let recorders = try await loop.submit {
            (0..<3).map { _ in
                let recorder = SocketRecorder(loop: loop, request: "")
                loop.connect(to: target, timeout: .milliseconds(300), handler: recorder)
                return NIOLoopBound(recorder, eventLoop: loop)
            }
        }.get()
        var outcomes: [String] = []
        for recorder in recorders {
            let events = try await loop.flatSubmit { recorder.value.finished.futureResult }.get()
            outcomes.append(events.last ?? "")
        }
        // The queue holds one or two connections (backlog + 1); the rest time out.
        #expect(outcomes.contains("connect failed"), "\(outcomes)")
        try await group.shutdownGracefully()
        try await listener.close()
        try await serverGroup.shutdownGracefully()
    }

    /// A response whose body ends with the connection (HTTP/1.0, no Content-Length): the engine reads to the end of
    /// the stream on its own sockets and counts it complete.
    @Test func bodyReadUntilCloseCompletes() async throws {
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CloseDelimitedResponder()) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let configuration = LoadConfiguration(
            baseURL: try BaseURL("http://127.0.0.1:\(channel.localAddress!.port!)"),
            requests: [RequestDefinition(name: "get", path: .literal("/"))],
            model: .closed(connections: 2),
            duration: .seconds(20),
            maxRequests: 50,
            threads: 1,
            transport: .sockets
        )
        let result = try await LoadRunner.run(configuration)
        #expect(result.overall.completed == 50)
        #expect(result.overall.failed == 0)
        #expect(result.bytesReceived == 50 * UInt64(CloseDelimitedResponder.response.utf8.count))
        try await channel.close()
        try await serverGroup.shutdownGracefully()
    }
}

/// Records what a ``LoopSocket`` reports: "connected", each chunk received, "closed" or "connect failed".
private final class SocketRecorder: LoopSocketHandler {
    let request: String
    let finished: EventLoopPromise<[String]>
    var events: [String] = []
    private var isDone = false

    init(loop: SocketEventLoop, request: String) {
        self.request = request
        finished = loop.makePromise()
    }

    private func done() {
        guard !isDone else { return }
        isDone = true
        finished.succeed(events)
    }

    func socketConnected(_ socket: LoopSocket) {
        events.append("connected")
        if request.isEmpty {
            // Nothing to send: done once connected.
            done()
            return
        }
        socket.write(ByteBuffer(string: request))
    }

    func socketConnectFailed(_ socket: LoopSocket) {
        events.append("connect failed")
        done()
    }

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        events.append(String(decoding: bytes, as: UTF8.self))
    }

    func socketClosed(_ socket: LoopSocket) {
        events.append("closed")
        done()
    }
}

/// Answers the first bytes of a connection with an HTTP/1.0 response without a length, then closes.
private final class CloseDelimitedResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    static let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the connection"
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: Self.response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

private struct PromiseCallback: NIOScheduledCallbackHandler {
    let promise: EventLoopPromise<Void>
    func handleScheduledCallback(eventLoop: some EventLoop) { promise.succeed(()) }
}
#endif
