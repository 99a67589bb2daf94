import AsyncHTTPClient
import BookstoreCore
import Foundation
import GatewayService
import HTTPTypes
import Hummingbird
import JSONKit
import Logging
import LoopbackPorts
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

let gatewaySecret = "gateway-test-secret-that-is-long-enough-01"

let userToken = TokenService(settings: TokenSettings(secret: gatewaySecret)).issue(
    for: Identity(userID: "u-1", username: "alice", email: "a@example.com", roles: ["ROLE_USER"])
)

// MARK: Upstreams

/// What a test upstream does, changeable while it runs, and what it received.
final class UpstreamBehaviour: Sendable {
    struct State {
        /// Status of the readiness endpoints.
        var readiness = 200
        /// When set, every other request is answered with this status.
        var failStatus: Int?
        /// When set, only requests with this method fail with `failStatus`.
        var failMethod: String?
        var hits: [String] = []
        var methods: [String] = []
        var bodies: [Int] = []
    }

    private let state = Mutex(State())

    func update(_ change: (inout State) -> Void) { self.state.withLock { change(&$0) } }
    var snapshot: State { self.state.withLock { $0 } }
    var hitCount: Int { self.state.withLock { $0.hits.count } }
    func count(method: String) -> Int { self.state.withLock { $0.methods.filter { $0 == method }.count } }

    fileprivate func record(method: String, path: String, isProbe: Bool) -> (readiness: Int, fail: Int?) {
        self.state.withLock { state in
            if isProbe { return (state.readiness, nil) }
            state.hits.append(path)
            state.methods.append(method)
            let fails = state.failMethod == nil || state.failMethod == method
            return (state.readiness, fails ? state.failStatus : nil)
        }
    }
}

/// A loopback upstream (a Hummingbird app) that echoes what it received as JSON, and can be told to fail, stall,
/// return a given status or stream a large body.
final class TestUpstream: Sendable {
    let name: String
    let port: Int
    let behaviour: UpstreamBehaviour
    private let group: ServiceGroup
    private let task: Mutex<Task<Void, any Error>?>

    var url: String { "http://127.0.0.1:\(self.port)" }

    private init(name: String, port: Int, behaviour: UpstreamBehaviour, group: ServiceGroup, task: Task<Void, any Error>) {
        self.name = name
        self.port = port
        self.behaviour = behaviour
        self.group = group
        self.task = Mutex(task)
    }

    static func start(name: String, port: Int = 0) async throws -> TestUpstream {
        let behaviour = UpstreamBehaviour()
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test-upstream")
        logger.logLevel = .critical
        let app = Application(
            router: Self.router(name: name, behaviour: behaviour),
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var bound = 0
        for await value in stream { bound = value }
        return TestUpstream(name: name, port: bound, behaviour: behaviour, group: group, task: task)
    }

    /// Stops the upstream: its server stops accepting (new connections are refused), finishes the requests under
    /// way and closes its connections.
    func stop() async {
        let task = self.task.withLock { task in
            defer { task = nil }
            return task
        }
        guard let task else { return }
        await self.group.triggerGracefulShutdown()
        _ = await task.result
    }

    static func router(name: String, behaviour: UpstreamBehaviour) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch, .head, .options] {
            router.on("**", method: method) { request, _ -> Response in
                let path = request.uri.path
                // The gateway's readiness checks (recognised by their User-Agent) are answered, not counted.
                let isProbe = request.headers[.userAgent] == "bookstore-gateway-health"
                let (readiness, fail) = behaviour.record(method: request.method.rawValue, path: path, isProbe: isProbe)
                if isProbe {
                    return Response(status: .init(code: readiness), body: .init(byteBuffer: ByteBuffer(string: "{}")))
                }
                if let fail {
                    _ = try await request.body.collect(upTo: 64 << 20)
                    return Response(status: .init(code: fail), body: .init(byteBuffer: ByteBuffer(string: #"{"failed":true}"#)))
                }
                if path.hasSuffix("/slow") { try await Task.sleep(for: .seconds(3)) }
                if let code = path.split(separator: "/").last.flatMap({ Int($0) }), path.contains("/status/") {
                    _ = try await request.body.collect(upTo: 64 << 20)
                    return Response(status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: #"{"status":\#(code)}"#)))
                }
                if path.contains("/download/"), let size = path.split(separator: "/").last.flatMap({ Int($0) }) {
                    return Response(
                        status: .ok,
                        headers: [.contentType: "application/octet-stream"],
                        body: ResponseBody { writer in
                            var remaining = size
                            while remaining > 0 {
                                let chunk = min(remaining, 16 << 10)
                                try await writer.write(ByteBuffer(repeating: UInt8(ascii: "d"), count: chunk))
                                remaining -= chunk
                            }
                            try await writer.finish(nil)
                        }
                    )
                }
                let body = try await request.body.collect(upTo: 64 << 20)
                behaviour.update { $0.bodies.append(body.readableBytes) }
                var headers = JSONObject()
                for field in request.headers {
                    let key = field.name.canonicalName
                    if let existing = headers[key]?.stringValue {
                        headers[key] = .string(existing + "|" + field.value)
                    } else {
                        headers[key] = .string(field.value)
                    }
                }
                if let authority = request.head.authority { headers["host"] = .string(authority) }
                let echo: JSON = [
                    "upstream": .string(name), "method": .string(request.method.rawValue), "path": .string(path),
                    "query": .optional(request.uri.query), "headers": .object(headers), "bodyLength": .int(body.readableBytes),
                ]
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: "application/json", .connection: "keep-alive, X-Upstream-Secret", HTTPField.Name("X-Upstream")!: name,
                        HTTPField.Name("X-Upstream-Secret")!: "hop", .requestID: "upstream-echo-id",
                    ],
                    body: .init(byteBuffer: ByteBuffer(bytes: echo.bytes))
                )
            }
        }
        return router
    }
}

/// A loopback server that accepts connections and resets each one (RST) as soon as a request arrives.
final class ResettingServer: Sendable {
    let channel: any Channel
    let received = Atomic<Int>(0)
    var port: Int { self.channel.localAddress?.port ?? 0 }
    var url: String { "http://127.0.0.1:\(self.port)" }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start() async throws -> ResettingServer {
        let counter = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ResetHandler(counter: counter)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = ResettingServer(channel: channel)
        counter.server.withLock { $0 = server }
        return server
    }

    func stop() async {
        try? await self.channel.close()
    }

    final class Counter: Sendable {
        let server = Mutex<ResettingServer?>(nil)
    }

    final class ResetHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let counter: Counter

        init(counter: Counter) {
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            // Health checks are not counted as requests.
            if !String(buffer: buffer).contains("bookstore-gateway-health") {
                _ = self.counter.server.withLock { $0 }?.received.add(1, ordering: .relaxed)
            }
            // SO_LINGER 0: close sends RST instead of FIN.
            let channel = context.channel
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }
}

// MARK: Gateway

func allUpstreams(_ url: String) -> [String: String] {
    ["USER_SERVICE_URL": url, "PAYMENT_PYTHON_SERVICE_URL": url, "PAYMENT_JAVA_SERVICE_URL": url, "REVIEW_SERVICE_URL": url]
}

func gatewayEnvironment(upstreams: [String: String], extra: [String: String] = [:]) -> [String: String] {
    var environment = [
        "JWT_SECRET": gatewaySecret, "PORT": "0", "LOG_LEVEL": "critical", "ACCESS_LOG": "false", "GATEWAY_READ_TIMEOUT_MS": "1000",
        "GATEWAY_HEALTH_INTERVAL_MS": "0",
    ]
    environment.merge(upstreams) { $1 }
    environment.merge(extra) { $1 }
    return environment
}

/// Builds the gateway for in-process (router) tests.
func gateway(upstreams: [String: String], extra: [String: String] = [:]) async throws -> BuiltService {
    try await GatewayApp.build(settings: Settings(environment: gatewayEnvironment(upstreams: upstreams, extra: extra)), bus: InProcessEventBus())
}

/// A gateway listening on a loopback port, run with its services like `bookstore serve gateway`.
struct RunningGateway: Sendable {
    let port: Int
    let built: BuiltService
    let group: ServiceGroup

    func url(_ path: String) -> String { "http://127.0.0.1:\(self.port)\(path)" }

    func metrics() async throws -> String {
        try await send(self.url("/metrics")).text
    }
}

/// Runs a gateway for the duration of `body`, then shuts it down gracefully.
func withGateway(
    upstreams: [String: String],
    extra: [String: String] = [:],
    _ body: @Sendable (RunningGateway) async throws -> Void
) async throws {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let built = try await GatewayApp.build(
        settings: Settings(environment: gatewayEnvironment(upstreams: upstreams, extra: extra)),
        bus: InProcessEventBus(),
        onServerRunning: { port in
            continuation.yield(port)
            continuation.finish()
        }
    )
    var logger = Logger(label: "gateway-test")
    logger.logLevel = .critical
    let group = ServiceGroup(configuration: .init(services: built.services, logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var port = 0
        for await value in ports { port = value }
        do {
            try await body(RunningGateway(port: port, built: built, group: group))
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

// MARK: HTTP clients

let testHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(15)))
    configuration.redirectConfiguration = .disallow
    configuration.decompression = .disabled
    configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
    return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
}()

struct TestResponse: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: ByteBuffer
    var text: String { String(buffer: self.body) }
    var json: JSON? { try? JSON.parse(Array(buffer: self.body)) }
}

/// Sends a request with the shared AsyncHTTPClient and collects the whole response.
func send(
    _ url: String,
    method: HTTPMethod = .GET,
    headers: [(String, String)] = [],
    body: ByteBuffer? = nil,
    streamedBody: Bool = false
) async throws -> TestResponse {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body {
        if streamedBody {
            let chunks = stride(from: 0, to: body.readableBytes, by: 8192).map { offset in
                body.getSlice(at: body.readerIndex + offset, length: min(8192, body.readableBytes - offset))!
            }
            request.body = .stream(chunks.async, length: .unknown)
        } else {
            request.body = .bytes(body)
        }
    }
    let response = try await testHTTPClient.execute(request, timeout: .seconds(20))
    let collected = try await response.body.collect(upTo: 64 << 20)
    return TestResponse(status: Int(response.status.code), headers: response.headers, body: collected)
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}

/// Writes `request` bytes on a fresh loopback connection and returns every byte received until the server closes it
/// (or `timeout` passes).
func rawExchange(port: Int, _ request: String, halfClose: Bool = false, timeout: Duration = .seconds(5)) async throws -> String {
    let collector = RawCollector()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RawCollectorHandler(collector: collector)) }
        }
        .channelOption(.allowRemoteHalfClosure, value: true)
        .connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: request))
    if halfClose { try await channel.close(mode: .output) }
    let deadline = ContinuousClock.now + timeout
    while channel.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    try? await channel.close()
    return collector.text
}

/// Sends `requests` on one connection, each after the response to the one before began to arrive; returns what came
/// back until the server closed (or `timeout`).
func rawSequence(port: Int, _ requests: [String], timeout: Duration = .seconds(5)) async throws -> String {
    let collector = RawCollector()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RawCollectorHandler(collector: collector)) }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let deadline = ContinuousClock.now + timeout
    for (index, request) in requests.enumerated() {
        try await channel.writeAndFlush(ByteBuffer(string: request))
        while collector.text.components(separatedBy: "HTTP/1.1 ").count - 1 <= index, channel.isActive, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
    while channel.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    try? await channel.close()
    return collector.text
}

final class RawCollector: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    func append(_ buffer: ByteBuffer) { self.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) } }
    var text: String { String(decoding: self.bytes.withLock { $0 }, as: UTF8.self) }
}

final class RawCollectorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let collector: RawCollector
    init(collector: RawCollector) { self.collector = collector }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { self.collector.append(self.unwrapInboundIn(data)) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server closed its side: the exchange is over.
        if let event = event as? ChannelEvent, event == .inputClosed { context.close(promise: nil) }
    }
}

// MARK: Metrics

/// The value of the series `name{labels}` in a Prometheus exposition, or nil. `labels` must be in exposition order.
func metricValue(_ text: String, _ name: String, _ labels: [(String, String)]) -> Double? {
    let series = name + "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

/// Waits until `condition` holds, checking every 20 ms, for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Runs test upstreams named `names` for the duration of `body`.
func withUpstreams(_ names: [String], _ body: ([TestUpstream]) async throws -> Void) async throws {
    var upstreams: [TestUpstream] = []
    for name in names { upstreams.append(try await TestUpstream.start(name: name)) }
    do {
        try await body(upstreams)
    } catch {
        for upstream in upstreams { await upstream.stop() }
        throw error
    }
    for upstream in upstreams { await upstream.stop() }
}

/// Counts shared by concurrent test tasks.
final class Tally: Sendable {
    let failures = Mutex<[String]>([])
    let completed = Atomic<Int>(0)
}
