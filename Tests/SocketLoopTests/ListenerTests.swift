#if os(Linux)
import Glibc
import LoopbackPorts
import NIOCore
import SocketLoop
import Synchronization
import Testing

/// Listeners, accepted sockets, read pause/resume, writability and detaching, over loopback. Outcomes and orderings
/// are asserted; where something must *not* happen, the test first makes sure it had every chance to.
@Suite(.timeLimit(.minutes(1))) struct ListenerTests {
    @Test func acceptedConnectionsEchoAndKnowTheirPeer() async throws {
        try await withLoops(2) { server, client in
            let echo = try await server.submit { try Server(loop: server, mode: .echo) }.get()
            let port = try await server.submit { echo.listener.localAddress.port }.get()
            #expect(port != nil && port != 0)
            let peer = try await connect(client, port: port!, sending: "hello, loop", closeAfter: 11)
            #expect(peer.events == ["connected", "hello, loop", "closed"])
            let accepted = try await server.submit { echo.sockets.map { $0.remoteAddress?.ipAddress } }.get()
            #expect(accepted == ["127.0.0.1"])
        }
    }

    @Test func aPausedSocketHoldsBytesAndTheEndOfStreamUntilResumed() async throws {
        try await withLoops(1) { loop, _ in
            let server = try await loop.submit { try Server(loop: loop, mode: .pauseOnAccept) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            // A blocking client: sends, then half-closes, so the server has bytes and an end of stream waiting.
            let fd = try blockingConnect(port: port)
            defer { Glibc.close(fd) }
            #expect(Glibc.write(fd, "abc", 3) == 3)
            #expect(shutdown(fd, Int32(SHUT_WR)) == 0)
            // Let the loop see the readiness (several iterations), then check that nothing was delivered.
            _ = try await server.accepted.futureResult(on: loop).get()
            for _ in 0..<20 {
                try await Task.sleep(for: .milliseconds(5))
                _ = try await loop.submit {}.get()
            }
            #expect(try await loop.submit { server.received }.get() == [])
            try await loop.submit { for socket in server.sockets { socket.resumeReading() } }.get()
            let events = try await server.closed.futureResult(on: loop).get()
            #expect(events == ["abc", "closed"])
        }
    }

    @Test func writabilityIsReportedOnceTheKernelTookEverything() async throws {
        try await withLoops(1) { loop, _ in
            let size = 8 << 20
            let server = try await loop.submit { try Server(loop: loop, mode: .sendOnAccept(size)) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            let fd = try blockingConnect(port: port)
            defer { Glibc.close(fd) }
            _ = try await server.accepted.futureResult(on: loop).get()
            // Nobody reads yet: 8 MiB cannot all fit in the socket buffers.
            let waiting = try await loop.submit { server.sockets.first?.pendingWriteBytes ?? 0 }.get()
            #expect(waiting > 0)
            #expect(try await loop.submit { server.writableReports }.get() == 0)
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while total < size {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                total += count
            }
            #expect(total == size)
            // Reported once the last bytes left; bounded, so that a loop that never reports fails rather than hangs.
            var reports = 0
            for _ in 0..<500 where reports == 0 {
                try await Task.sleep(for: .milliseconds(10))
                reports = try await loop.submit { server.writableReports }.get()
            }
            #expect(reports == 1)
            #expect(try await loop.submit { server.sockets.first?.pendingWriteBytes }.get() == 0)
        }
    }

    @Test func coalescedWritesLeaveTogetherAtTheEndOfTheIterationInOrder() async throws {
        try await withLoops(1) { loop, _ in
            let server = try await loop.submit { try Server(loop: loop, mode: .pauseOnAccept) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            let fd = try blockingConnect(port: port)
            defer { Glibc.close(fd) }
            _ = try await server.accepted.futureResult(on: loop).get()
            // Within one task (one iteration): nothing reaches the kernel until the task is over.
            let held = try await loop.submit { () -> Int in
                let socket = server.sockets[0]
                socket.writeCoalesced(ByteBuffer(string: "one,"))
                socket.writeCoalesced(ByteBuffer(string: "two,"))
                socket.write(ByteBuffer(string: "three"))  // after coalesced bytes: queued behind them
                return socket.pendingWriteBytes
            }.get()
            #expect(held == 13)
            var buffer = [UInt8](repeating: 0, count: 64)
            var text = ""
            while text.utf8.count < 13 {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                text += String(decoding: buffer.prefix(count), as: UTF8.self)
            }
            #expect(text == "one,two,three")
            #expect(try await loop.submit { server.sockets[0].pendingWriteBytes }.get() == 0)
            // The bytes waited (for the end of the iteration): once they are out, that is reported, once.
            #expect(try await loop.submit { server.writableReports }.get() == 1)
        }
    }

    @Test func aHalfClosedPeerIsReportedAndStillGetsItsAnswer() async throws {
        try await withLoops(1) { loop, _ in
            let server = try await loop.submit { try Server(loop: loop, mode: .answerWhenInputCloses) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            let fd = try blockingConnect(port: port)
            defer { Glibc.close(fd) }
            #expect(Glibc.write(fd, "question", 8) == 8)
            #expect(shutdown(fd, Int32(SHUT_WR)) == 0)
            // The answer comes after the end of the client's stream, then the server closes.
            #expect(readToEnd(fd) == "answer to question")
            let events = try await server.closed.futureResult(on: loop).get()
            #expect(events == ["question", "input closed", "closed"])
        }
    }

    @Test func closeAfterWritingSendsEverythingFirst() async throws {
        try await withLoops(1) { loop, _ in
            let size = 8 << 20
            let server = try await loop.submit { try Server(loop: loop, mode: .sendAndCloseOnAccept(size)) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            let fd = try blockingConnect(port: port)
            defer { Glibc.close(fd) }
            _ = try await server.accepted.futureResult(on: loop).get()
            // More than the socket buffers take: the close waits for the reader, and bytes written after it are dropped.
            #expect(try await loop.submit { server.sockets[0].pendingWriteBytes }.get() > 0)
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                total += count
            }
            #expect(total == size)
            #expect(try await server.closed.futureResult(on: loop).get() == ["closed"])
        }
    }

    @Test func aDetachedSocketIsTheCallersOpenAndSilent() async throws {
        try await withLoops(1) { loop, _ in
            let server = try await loop.submit { try Server(loop: loop, mode: .detachOnAccept) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            let client = try blockingConnect(port: port)
            defer { Glibc.close(client) }
            _ = try await server.accepted.futureResult(on: loop).get()
            let detached = try await loop.submit { server.detached }.get()
            let fd = try #require(detached.first ?? nil)
            // Still open, and served by whoever holds it now.
            #expect(Glibc.write(client, "ping", 4) == 4)
            var buffer = [UInt8](repeating: 0, count: 16)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == "ping")
            #expect(Glibc.write(fd, "pong", 4) == 4)
            let answer = buffer.withUnsafeMutableBytes { Glibc.read(client, $0.baseAddress, $0.count) }
            #expect(String(decoding: buffer.prefix(max(answer, 0)), as: UTF8.self) == "pong")
            Glibc.close(fd)
            // The loop reported nothing about it: no bytes, no close.
            _ = try await loop.submit {}.get()
            #expect(try await loop.submit { server.received }.get() == [])
        }
    }

    @Test func listenersShareAPortOnlyWithReusePort() async throws {
        try await withLoops(2) { first, second in
            let one = try await first.submit { try Server(loop: first, mode: .echo, reusePort: true) }.get()
            let port = try await first.submit { one.listener.localAddress.port! }.get()
            let two = try await second.submit { try Server(loop: second, mode: .echo, port: port, reusePort: true) }.get()
            #expect(try await second.submit { two.listener.localAddress.port }.get() == port)
            let refused = try await second.submit { () -> Int32? in
                do {
                    _ = try Server(loop: second, mode: .echo, port: port, reusePort: false)
                    return nil
                } catch let error as SocketLoopError {
                    return error.errno
                }
            }.get()
            #expect(refused == EADDRINUSE)
            // Connections reach one listener or the other, and are served either way.
            for _ in 0..<4 {
                let peer = try await connect(first, port: port, sending: "x", closeAfter: 1)
                #expect(peer.events == ["connected", "x", "closed"])
            }
        }
    }

    @Test func aClosedListenerAcceptsNoMore() async throws {
        try await withLoops(1) { loop, _ in
            let server = try await loop.submit { try Server(loop: loop, mode: .echo) }.get()
            let port = try await loop.submit { server.listener.localAddress.port! }.get()
            // The port is held (bound, not listening) the moment the listener lets it go, so that no other test's
            // server can be given it before the connect below; the bind also shows the listener released it.
            try await loop.submit {
                server.listener.close()
                try holdRefusing(port: port)
            }.get()
            #expect(try await loop.submit { server.listener.isOpen }.get() == false)
            let peer = try await connect(loop, port: port, sending: "", closeAfter: 0)
            #expect(peer.events == ["connect failed"])
        }
    }
}

// MARK: - Helpers

/// Runs `body` with `count` loops (the second argument repeats the first when there is one), shutting them down after.
private func withLoops(_ count: Int, _ body: (SocketEventLoop, SocketEventLoop) async throws -> Void) async throws {
    let group = SocketEventLoopGroup(numberOfThreads: count, namePrefix: "test-loop")
    let loops = group.socketLoops
    do {
        try await body(loops[0], loops[count > 1 ? 1 : 0])
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}

/// A blocking client connection to 127.0.0.1:`port`.
/// Everything `fd` receives until the end of its stream.
private func readToEnd(_ fd: Int32) -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { break }
        bytes += buffer.prefix(count)
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func blockingConnect(port: Int) throws -> Int32 {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
    let result = address.withSockAddr { Glibc.connect(fd, $0, socklen_t($1)) }
    guard fd >= 0, result == 0 else { throw SocketLoopError(call: "connect", errno: errno) }
    return fd
}

/// Connects a loop client, sends `text`, and closes after `closeAfter` bytes came back; returns what it saw.
private func connect(_ loop: SocketEventLoop, port: Int, sending text: String, closeAfter: Int) async throws -> Client {
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
    let client = try await loop.submit {
        let client = Client(loop: loop, text: text, closeAfter: closeAfter)
        loop.connect(to: address, timeout: .seconds(5), handler: client)
        return NIOLoopBound(client, eventLoop: loop)
    }.get()
    _ = try await loop.flatSubmit { client.value.done.futureResult }.get()
    return try await loop.submit { client.value }.get()
}

private final class Client: LoopSocketHandler, @unchecked Sendable {
    let text: String
    let closeAfter: Int
    let done: EventLoopPromise<Void>
    var events: [String] = []
    private var received = 0

    init(loop: SocketEventLoop, text: String, closeAfter: Int) {
        self.text = text
        self.closeAfter = closeAfter
        done = loop.makePromise()
    }

    func socketConnected(_ socket: LoopSocket) {
        events.append("connected")
        if text.isEmpty { socket.close() } else { socket.write(ByteBuffer(string: text)) }
    }

    func socketConnectFailed(_ socket: LoopSocket) {
        events.append("connect failed")
        done.succeed(())
    }

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        events.append(String(decoding: bytes, as: UTF8.self))
        received += bytes.count
        if received >= closeAfter { socket.close() }
    }

    func socketClosed(_ socket: LoopSocket) {
        events.append("closed")
        done.succeed(())
    }
}

private final class Server: LoopListenerHandler, LoopSocketHandler, @unchecked Sendable {
    enum Mode {
        case echo
        case pauseOnAccept
        case sendOnAccept(Int)
        case sendAndCloseOnAccept(Int)
        case answerWhenInputCloses
        case detachOnAccept
    }

    let mode: Mode
    var listener: LoopListener!
    var sockets: [LoopSocket] = []
    var received: [String] = []
    var detached: [Int32?] = []
    var writableReports = 0
    let accepted = Signal<Bool>()
    let closed = Signal<[String]>()

    init(loop: SocketEventLoop, mode: Mode, port: Int = 0, reusePort: Bool = false) throws {
        self.mode = mode
        listener = try loop.listen(on: try SocketAddress(ipAddress: "127.0.0.1", port: port), reusePort: reusePort, handler: self)
    }

    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? {
        sockets.append(socket)
        defer { accepted.fire(true) }
        switch mode {
        case .echo: break
        case .pauseOnAccept: socket.pauseReading()
        case .sendOnAccept(let size):
            socket.handler = self
            socket.write(ByteBuffer(repeating: 0x61, count: size))
        case .sendAndCloseOnAccept(let size):
            socket.handler = self
            socket.write(ByteBuffer(repeating: 0x61, count: size))
            socket.closeAfterWriting()
            socket.write(ByteBuffer(string: "too late"))
        case .answerWhenInputCloses:
            socket.allowsHalfClosure = true
        case .detachOnAccept:
            detached.append(socket.detach())
            return nil
        }
        return self
    }

    func socketConnected(_ socket: LoopSocket) {}
    func socketConnectFailed(_ socket: LoopSocket) {}

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        received.append(String(decoding: bytes, as: UTF8.self))
        if case .echo = mode { socket.write(ByteBuffer(bytes: bytes)) }
    }

    func socketWritable(_ socket: LoopSocket) {
        writableReports += 1
    }

    func socketInputClosed(_ socket: LoopSocket) {
        received.append("input closed")
        socket.write(ByteBuffer(string: "answer to " + received.dropLast().joined()))
        socket.closeAfterWriting()
    }

    func socketClosed(_ socket: LoopSocket) {
        closed.fire(received + ["closed"])
    }
}

#endif
