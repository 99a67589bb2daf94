#if os(Linux)
import Glibc
import NIOCore
import NIOPosix
import SocketLoop
import Testing

/// The hand-off a fast path on SocketLoop relies on: a connection accepted and read on a ``SocketEventLoop`` is
/// detached and adopted by a SwiftNIO channel (`ClientBootstrap.withConnectedSocket`), which gets the bytes the loop
/// already read and then serves the rest of the connection.
@Suite(.timeLimit(.minutes(1))) struct HandOffTests {
    @Test func aDetachedConnectionIsServedOnBySwiftNIOWithTheBytesAlreadyRead() async throws {
        let loops = SocketEventLoopGroup(numberOfThreads: 1, namePrefix: "handoff-loop")
        let nio = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = loops.socketLoops[0]
        let acceptor = try await loop.submit { try HandingOver(loop: loop) }.get()
        let port = try await loop.submit { acceptor.listener.localAddress.port! }.get()

        let client = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(client) }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        #expect(address.withSockAddr { Glibc.connect(client, $0, socklen_t($1)) } == 0)
        // The first line is read by the loop, which then gives the connection away.
        #expect(Glibc.write(client, "first\n", 6) == 6)
        let handed = try await acceptor.handedOff.futureResult(on: loop).get()
        let (fd, alreadyRead) = try #require(handed)
        #expect(alreadyRead == "first\n")

        let channel = try await ClientBootstrap(group: nio)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LineEcho()) }
            }
            .withConnectedSocket(fd)
            .get()
        // What the loop had read goes through the new pipeline first, then the connection carries on there.
        channel.pipeline.fireChannelRead(ByteBuffer(string: alreadyRead))
        #expect(readLine(client) == "nio: first")
        #expect(Glibc.write(client, "second\n", 7) == 7)
        #expect(readLine(client) == "nio: second")
        // The loop reported nothing after the hand-off.
        #expect(try await loop.submit { acceptor.reportsAfterHandOff }.get() == 0)

        try await channel.close()
        try await nio.shutdownGracefully()
        try await loops.shutdownGracefully()
    }
}

/// Reads one `\n`-terminated line from a blocking socket (without the newline).
private func readLine(_ fd: Int32) -> String {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while Glibc.read(fd, &byte, 1) == 1 {
        if byte == UInt8(ascii: "\n") { break }
        line.append(byte)
    }
    return String(decoding: line, as: UTF8.self)
}

/// Accepts one connection, reads its first bytes, then detaches it.
private final class HandingOver: LoopListenerHandler, LoopSocketHandler, @unchecked Sendable {
    var listener: LoopListener!
    let handedOff = Signal<(Int32, String)?>()
    var reportsAfterHandOff = 0
    private var done = false

    init(loop: SocketEventLoop) throws {
        listener = try loop.listen(on: try SocketAddress(ipAddress: "127.0.0.1", port: 0), handler: self)
    }

    func listenerAccepted(_ listener: LoopListener, _ socket: LoopSocket) -> (any LoopSocketHandler)? { self }
    func socketConnected(_ socket: LoopSocket) {}
    func socketConnectFailed(_ socket: LoopSocket) {}

    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer) {
        guard !done else {
            reportsAfterHandOff += 1
            return
        }
        done = true
        let text = String(decoding: bytes, as: UTF8.self)
        handedOff.fire(socket.detach().map { ($0, text) })
    }

    func socketClosed(_ socket: LoopSocket) {
        reportsAfterHandOff += 1
    }
}

/// Answers each line with "nio: " and the line.
private final class LineEcho: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var buffered = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        buffered.writeBuffer(&bytes)
        while let newline = buffered.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffered.readerIndex + 1
            let line = buffered.readString(length: length)!
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: "nio: " + line)), promise: nil)
        }
    }
}
#endif
