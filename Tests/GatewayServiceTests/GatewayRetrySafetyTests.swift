import BookstoreCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import JSONKit
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// What the gateway may send again, and what it may send on a pooled connection (issue 11, item 9).
@Suite struct GatewayRetrySafetyTests {
    @Test func aRetryNeverSendsABodyWhoseStartWasDropped() async throws {
        // Whichever replica takes the first request cuts the connection after part of the body; every other request
        // is recorded and answered.
        let log = RequestLog()
        let first = try await RecordingUpstream.start(log: log, behaviour: .cutFirstRequest(afterBodyBytes: 256))
        let second = try await RecordingUpstream.start(log: log, behaviour: .cutFirstRequest(afterBodyBytes: 256))
        let extra = [
            "GATEWAY_RETRY_BODY_LIMIT_BYTES": "1024", "GATEWAY_RETRY_BASE_DELAY_MS": "1000", "GATEWAY_RETRY_MAX_DELAY_MS": "1000",
            "GATEWAY_EJECT_FAILURES": "1000", "GATEWAY_BREAKER_FAILURES": "1000", "GATEWAY_READ_TIMEOUT_MS": "1000",
        ]
        try await withGateway(upstreams: allUpstreams(first.url + "," + second.url), extra: extra) { gateway in
            // A 4 KiB PUT (idempotent, larger than the retry buffer): 512 bytes (kept for a retry), then, once the
            // first replica cut the connection and a retry waits for its backoff, the rest (which overflows the buffer).
            let body = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
            let collector = RawCollector()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RawCollectorHandler(collector: collector))
                    }
                }
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(host: "127.0.0.1", port: gateway.port).get()
            var head = ByteBuffer(string: "PUT /api/auth/profile HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4096\r\n\r\n")
            head.writeBytes(body[..<512])
            try await channel.writeAndFlush(head)
            #expect(try await eventually { log.cutRequests > 0 }, "the first replica cut the connection")
            try await channel.writeAndFlush(ByteBuffer(bytes: body[512...]))
            let closed = try await eventually(timeout: .seconds(6)) { !channel.isActive }
            #expect(closed)
            try? await channel.close()

            let response = collector.text
            let isErrorEnvelope = response.hasPrefix("HTTP/1.1 50") && response.contains(#""status":"error""#)
            #expect(response.hasPrefix("HTTP/1.1 200") || isErrorEnvelope, "\(response.prefix(60))")
            let retried = log.requests.filter { !$0.wasCut }
            for request in retried {
                #expect(request.body.isEmpty || request.body == body, "a retry sent \(request.body.count) of 4096 body bytes")
            }
        }
        await first.stop()
        await second.stop()
    }

    @Test func anEarlyAnswerOnTheRouterPathDoesNotPoolAHalfSentBody() async throws {
        // The replica answers the first request before reading its body: the head once the gateway is held back by
        // the unread body, the end of the response a little later.
        let log = RequestLog()
        let upstream = try await RecordingUpstream.start(log: log, behaviour: .answerFirstRequestEarly)
        let extra = ["MAX_BODY_BYTES": "\(16 << 20)", "GATEWAY_EVENT_LOOPS": "1", "GATEWAY_READ_TIMEOUT_MS": "2000"]
        let built = try await gateway(upstreams: allUpstreams(upstream.url), extra: extra)
        try await built.application.test(.router) { client in
            try await client.execute(uri: "/api/auth/upload", method: .put, body: ByteBuffer(repeating: UInt8(ascii: "b"), count: 8 << 20)) {
                response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "early")
            }
            // The next request on the same event loop (one loop): on a pooled connection whose body was cut short it
            // would be read as body bytes, and never answered.
            try await client.execute(uri: "/api/auth/next", method: .get) { response in
                #expect(response.status == .ok)
            }
            #expect(log.requests.map(\.line).contains("GET /api/auth/next HTTP/1.1"), "\(log.requests.map(\.line))")
        }
        await upstream.stop()
    }

    @Test func connectionCannotStripTheIdempotencyKey() async throws {
        try await withUpstreams(["failing", "healthy"]) { upstreams in
            upstreams[0].behaviour.update { $0.failStatus = 503 }
            let replicas = upstreams.map(\.url).joined(separator: ",")
            let extra = ["GATEWAY_EJECT_FAILURES": "1000", "GATEWAY_BREAKER_FAILURES": "1000", "GATEWAY_RETRY_BUDGET_MIN_PER_SECOND": "100"]
            try await withGateway(upstreams: allUpstreams(replicas), extra: extra) { gateway in
                // A key the client lists as hop-by-hop is still forwarded (the request is retried because of it).
                for index in 0..<10 {
                    let raw = try await rawExchange(
                        port: gateway.port,
                        "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\(index)\r\nConnection: Idempotency-Key, close\r\n"
                            + "Content-Length: 2\r\n\r\n{}"
                    )
                    #expect(raw.hasPrefix("HTTP/1.1 200"), "retried on the healthy replica: \(raw.prefix(40))")
                    let echo = raw.split(separator: "\r\n\r\n", maxSplits: 1).last.flatMap { try? JSON.parse(Array($0.utf8)) }
                    #expect(echo?["headers"]?["idempotency-key"] == .string("k\(index)"), "\(raw.suffix(200))")
                }
                #expect(upstreams[0].behaviour.count(method: "POST") > 0, "the failing replica was tried")
                #expect(upstreams[1].behaviour.count(method: "POST") == 10)

                // Without a key, a POST is never sent twice (also when Connection lists the key's name).
                for upstream in upstreams { upstream.behaviour.update { $0.methods = [] } }
                var statuses: [Int] = []
                for _ in 0..<10 {
                    let raw = try await rawExchange(
                        port: gateway.port,
                        "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nConnection: Idempotency-Key, close\r\nContent-Length: 2\r\n\r\n{}"
                    )
                    statuses.append(Int(raw.dropFirst("HTTP/1.1 ".count).prefix(3)) ?? 0)
                }
                let failed = upstreams[0].behaviour.count(method: "POST")
                #expect(failed + upstreams[1].behaviour.count(method: "POST") == 10, "each POST reached exactly one replica")
                #expect(statuses.filter { $0 == 503 }.count == failed)
            }
        }
    }
}

/// The requests the ``RecordingUpstream``s received: request line and body bytes, and whether it was cut.
final class RequestLog: Sendable {
    struct Request: Sendable {
        var line: String
        var body: [UInt8]
        var wasCut = false
    }

    private let state = Mutex<(requests: [Request], firstTaken: Bool)>(([], false))

    var requests: [Request] { self.state.withLock { $0.requests } }
    var cutRequests: Int { self.state.withLock { $0.requests.filter(\.wasCut).count } }

    /// Whether this is the first request of all (the one that misbehaves).
    fileprivate func takeFirst() -> Bool {
        self.state.withLock { state in
            defer { state.firstTaken = true }
            return !state.firstTaken
        }
    }

    fileprivate func append(_ request: Request) { self.state.withLock { $0.requests.append(request) } }
}

/// A loopback upstream that parses requests itself (Content-Length bodies only) and records them in a
/// ``RequestLog``; the first request of all misbehaves as told, every other one is answered `200 ok`.
final class RecordingUpstream: Sendable {
    enum Behaviour: Sendable {
        /// Close the connection once this many bytes of the body arrived.
        case cutFirstRequest(afterBodyBytes: Int)
        /// Stop reading after the head; 300 ms later send a response head, 300 ms after that its body, then read on.
        case answerFirstRequestEarly
    }

    let channel: any Channel
    var url: String { "http://127.0.0.1:\(self.channel.localAddress?.port ?? 0)" }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start(log: RequestLog, behaviour: Behaviour) async throws -> RecordingUpstream {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.socketOption(.so_rcvbuf), value: 16384)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(log: log, behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RecordingUpstream(channel: channel)
    }

    func stop() async {
        try? await self.channel.close()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let log: RequestLog
        let behaviour: Behaviour
        private var buffer = ByteBuffer()
        private var current: RequestLog.Request?
        private var remaining = 0
        private var isFirst = false

        init(log: RequestLog, behaviour: Behaviour) {
            self.log = log
            self.behaviour = behaviour
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = self.unwrapInboundIn(data)
            self.buffer.writeBuffer(&incoming)
            self.process(context: context)
        }

        private func process(context: ChannelHandlerContext) {
            while context.channel.isActive {
                if var request = self.current {
                    let take = min(self.remaining, self.buffer.readableBytes)
                    if take > 0, request.body.count < 1 << 16 {
                        request.body += self.buffer.getBytes(at: self.buffer.readerIndex, length: take) ?? []
                    }
                    self.buffer.moveReaderIndex(forwardBy: take)
                    self.remaining -= take
                    self.current = request
                    if self.isFirst, case .cutFirstRequest(let limit) = self.behaviour, request.body.count >= limit {
                        self.current?.wasCut = true
                        return context.close(promise: nil)
                    }
                    guard self.remaining == 0 else { return }
                    self.log.append(request)
                    self.current = nil
                    if !self.isFirst || !self.answersEarly {
                        context.writeAndFlush(
                            self.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
                            promise: nil
                        )
                    }
                    self.isFirst = false
                    continue
                }
                let view = self.buffer.readableBytesView
                guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
                let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
                self.buffer.moveReaderIndex(to: end.upperBound)
                let lines = head.split(separator: "\r\n")
                let length = lines.first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
                self.current = RequestLog.Request(line: String(lines.first ?? ""), body: [])
                self.remaining = length ?? 0
                let isHealthCheck = head.contains("bookstore-gateway-health")
                self.isFirst = !isHealthCheck && self.log.takeFirst()
                if self.isFirst && self.answersEarly { return self.answerEarly(context: context) }
            }
        }

        private var answersEarly: Bool {
            if case .answerFirstRequestEarly = self.behaviour { return true }
            return false
        }

        private func answerEarly(context: ChannelHandlerContext) {
            context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
            let loop = context.eventLoop.assumeIsolated()
            loop.scheduleTask(in: .milliseconds(300)) {
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")), promise: nil)
                loop.scheduleTask(in: .milliseconds(300)) {
                    context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "early")), promise: nil)
                    context.channel.setOption(.autoRead, value: true).whenComplete { _ in }
                    context.read()
                    self.process(context: context)
                }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if let current = self.current { self.log.append(current) }
            self.current = nil
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
