import NIOCore

/// The only handler of a SwiftNIO upstream channel: hands received bytes to its ``UpstreamConnection`` (which parses
/// them), writes its requests, and holds reads back while the connection's exchange cannot take more of the response
/// (backpressure).
final class UpstreamConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The connection this channel carries (set once it exists; cleared when the channel closes).
    var connection: UpstreamConnection?

    private var context: ChannelHandlerContext?
    private var isReadingPaused = false
    private var hasPendingRead = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.connection = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection = self.connection, connection.receive(self.unwrapInboundIn(data)) else {
            context.close(promise: nil)
            return
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.connection?.readComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.connection?.transportWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection?.transportClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let connection = self.connection, connection.lastError == nil { connection.lastError = error }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if self.isReadingPaused {
            self.hasPendingRead = true
        } else {
            context.read()
        }
    }

    func write(_ buffer: ByteBuffer) {
        self.context?.write(self.wrapOutboundOut(buffer), promise: nil)
    }

    func flush() {
        self.context?.flush()
    }

    func pauseReading() {
        self.isReadingPaused = true
    }

    func resumeReading() {
        guard self.isReadingPaused else { return }
        self.isReadingPaused = false
        if self.hasPendingRead, let context {
            self.hasPendingRead = false
            context.read()
        }
    }
}
