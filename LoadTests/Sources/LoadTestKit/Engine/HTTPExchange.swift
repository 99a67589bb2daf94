import NIOCore
import NIOPosix

/// A response read in full (used by setup steps).
public struct HTTPExchangeResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Headers with lower-cased names, in order.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// The first value of a header (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// Why a single exchange failed.
public struct HTTPExchangeError: Error, CustomStringConvertible, Sendable {
    /// The failure kind.
    public var kind: RequestErrorKind
    /// Details.
    public var message: String

    public var description: String { "\(kind): \(message)" }
}

/// One request on its own connection, read in full. Setup steps use it; the load path does not.
enum HTTPExchange {
    static func perform(
        _ bytes: ByteBuffer,
        isHeadRequest: Bool,
        to address: SocketAddress,
        on eventLoop: any EventLoop,
        timeout: Duration,
        connectTimeout: Duration
    ) async throws -> HTTPExchangeResponse {
        let promise = eventLoop.makePromise(of: HTTPExchangeResponse.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.nanoseconds(Int64(connectTimeout.nanosecondsClamped)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ExchangeHandler(request: bytes, isHeadRequest: isHeadRequest, promise: promise)
                        )
                    }
                }
                .connect(to: address)
                .get()
        } catch {
            promise.fail(HTTPExchangeError(kind: .connect, message: "\(error)"))
            throw HTTPExchangeError(kind: .connect, message: "cannot connect to \(address): \(error)")
        }
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.nanosecondsClamped))) {
            promise.fail(HTTPExchangeError(kind: .timeout, message: "no complete response within \(DurationText.format(timeout))"))
            channel.close(promise: nil)
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

private final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let promise: EventLoopPromise<HTTPExchangeResponse>
    private var parser = ResponseParser()
    private var done = false

    init(request: ByteBuffer, isHeadRequest: Bool, promise: EventLoopPromise<HTTPExchangeResponse>) {
        self.request = request
        self.promise = promise
        parser.collects = true
        parser.reset(isHeadRequest: isHeadRequest)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(request), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        let buffer = Self.unwrapInboundIn(data)
        switch buffer.withUnsafeReadableBytes({ parser.feed($0) }) {
        case .incomplete:
            return
        case .complete(let status, _, _):
            succeed(status: status)
            context.close(promise: nil)
        case .invalid:
            done = true
            promise.fail(HTTPExchangeError(kind: .protocolError, message: "the response is not valid HTTP/1.1"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !done else { return }
        if parser.readsUntilClose, case .complete(let status, _, _) = parser.finishAtClose() {
            succeed(status: status)
        } else {
            done = true
            promise.fail(HTTPExchangeError(kind: .reset, message: "the connection closed before the response was complete"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func succeed(status: Int) {
        done = true
        promise.succeed(HTTPExchangeResponse(status: status, headers: parser.headers, body: parser.body))
    }
}
