import NIOCore
import NIOHTTP1

/// Sits after NIO's HTTP codec and tells the ``GatewayConnectionHandler`` when the router's response to a delegated
/// request ended (after the end went out, so that bytes stay in order).
final class RouterResponseObserver: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Strong: the gateway handler does not refer back, and both go with the pipeline.
    private var gateway: GatewayConnectionHandler?

    init(gateway: GatewayConnectionHandler) {
        self.gateway = gateway
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.gateway = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = self.unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd { self.gateway?.routerResponseEnded() }
    }
}
