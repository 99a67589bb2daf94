import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection reports to the exchange using it (on the connection's event loop).
protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed (or failed) while this delegate owned it.
    func upstreamClosed(error: (any Error)?)
}

/// One keep-alive HTTP/1.1 connection to a replica, used by one exchange at a time and kept in its event loop's
/// ``ConnectionPool`` in between. Not thread-safe: used only on its channel's event loop.
final class UpstreamConnection {
    let channel: any Channel
    let endpoint: ReplicaEndpoint
    let handler: UpstreamConnectionHandler
    /// When it went back to the pool (for the idle timeout).
    var idleSince: NIODeadline = .now()
    /// Whether it is in the pool.
    var isIdle = false

    init(channel: any Channel, endpoint: ReplicaEndpoint, handler: UpstreamConnectionHandler) {
        self.channel = channel
        self.endpoint = endpoint
        self.handler = handler
    }

    var isActive: Bool { self.channel.isActive }
    var isWritable: Bool { self.channel.isWritable }

    func write(_ part: HTTPClientRequestPart) { self.handler.write(part) }
    func flush() { self.handler.flush() }
    func pauseReading() { self.handler.pauseReading() }
    func resumeReading() { self.handler.resumeReading() }
    func close() { self.channel.close(promise: nil) }
}

/// The last handler of an upstream connection's pipeline (after NIO's HTTP client codec): hands response parts to
/// the current delegate, and holds reads back while the delegate cannot take more (response backpressure).
final class UpstreamConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// The exchange using the connection (strong: the exchange clears it when done with the connection).
    var delegate: (any UpstreamConnectionDelegate)?
    /// Called once when the channel closes (the pool forgets the connection).
    var onClose: (() -> Void)?
    private var context: ChannelHandlerContext?
    private var isReadingPaused = false
    private var hasPendingRead = false
    private var lastError: (any Error)?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if let delegate = self.delegate {
            delegate.upstreamReceived(part)
        } else {
            // An idle connection must not receive anything; whatever it is, the connection cannot be trusted.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let delegate = self.delegate
        self.delegate = nil
        let onClose = self.onClose
        self.onClose = nil
        onClose?()
        delegate?.upstreamClosed(error: self.lastError)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.lastError == nil { self.lastError = error }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if self.isReadingPaused {
            self.hasPendingRead = true
        } else {
            context.read()
        }
    }

    func write(_ part: HTTPClientRequestPart) {
        self.context?.write(self.wrapOutboundOut(part), promise: nil)
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
