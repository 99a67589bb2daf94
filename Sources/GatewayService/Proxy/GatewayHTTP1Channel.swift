import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's HTTP/1.1 child channel with the gateway's fast path (``GatewayConnectionHandler``) first in the
/// pipeline, and ``RouterResponseObserver`` after NIO's HTTP codec.
struct GatewayHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let proxy: GatewayProxy

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        self.http1.setup(channel: channel, logger: logger).map { value in
            // Never fail past this point: the value must reach `handle(value:logger:)`, which closes it properly.
            do {
                let pipeline = channel.pipeline.syncOperations
                let gateway = GatewayConnectionHandler(proxy: self.proxy)
                try pipeline.addHandler(gateway, position: .first)
                let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try pipeline.addHandler(RouterResponseObserver(gateway: gateway), position: .after(decoder))
            } catch {
                logger.error("Gateway connection setup failed", metadata: ["error.message": .string("\(error)")])
                channel.close(promise: nil)
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the gateway's fast path for proxied routes; the channel is also given to `handOff` (the
    /// SocketLoop front end's connections for the router are served with it).
    static func gateway(_ proxy: GatewayProxy, handOff: RouterHandOff? = nil) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let channel = GatewayHTTP1Channel(http1: HTTP1Channel(responder: responder), proxy: proxy)
            #if os(Linux)
            handOff?.setChildChannel(channel)
            #endif
            return channel
        }
    }
}
