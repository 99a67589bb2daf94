import HTTPWire
import NIOCore
import NIOPosix

/// The only handler of an upstream connection: writes requests as bytes, and parses responses (strictly, see
/// ``MessageHead``) into a head and body bytes for the current delegate. Holds reads back while the delegate cannot
/// take more (response backpressure).
final class UpstreamConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The exchange using the connection (strong: the exchange clears it when done with the connection).
    var delegate: (any UpstreamConnectionDelegate)?
    /// Set before each request: whether its response has no body (HEAD), and whether chunked bodies are decoded.
    var expectsBodilessResponse = false
    var decodesBody = false
    /// Whether the last response said the connection stays open.
    private(set) var isReusable = true

    private var context: ChannelHandlerContext?
    private var isReadingPaused = false
    private var hasPendingRead = false
    private var lastError: (any Error)?
    private var buffer: ByteBuffer?
    private var scanned = 0
    private var framer: BodyFramer?
    private var decoded: [ByteBuffer] = []

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.delegate != nil else {
            // An idle connection must not receive anything; whatever it is, the connection cannot be trusted.
            context.close(promise: nil)
            return
        }
        let incoming = self.unwrapInboundIn(data)
        if var pending = self.buffer, pending.readableBytes > 0 {
            var incoming = incoming
            pending.writeBuffer(&incoming)
            self.buffer = pending
        } else {
            self.buffer = incoming
        }
        do {
            try self.process(context: context)
        } catch {
            self.lastError = error
            context.close(promise: nil)
        }
    }

    private func process(context: ChannelHandlerContext) throws {
        while var buffer = self.buffer, buffer.readableBytes > 0, let delegate = self.delegate {
            if var framer = self.framer {
                self.buffer = nil
                let body = try framer.take(from: &buffer, decode: self.decodesBody, decoded: &self.decoded)
                self.framer = framer
                self.buffer = buffer
                if self.decodesBody {
                    let chunks = self.decoded
                    self.decoded.removeAll(keepingCapacity: true)
                    for chunk in chunks { self.delegate?.upstreamReceivedBody(chunk) }
                } else if let body {
                    delegate.upstreamReceivedBody(body)
                }
                if framer.isComplete {
                    self.framer = nil
                    if buffer.readableBytes > 0 { self.isReusable = false }  // more than one response: not trustworthy
                    self.delegate?.upstreamReceivedEnd()
                }
                continue
            }
            self.buffer = nil
            guard let head = try MessageHead.parse(from: &buffer, isRequest: false, scanned: &self.scanned) else {
                self.buffer = buffer
                return
            }
            self.buffer = buffer
            if head.status < 200 {
                guard head.status != 101 else { throw HTTPWireError.malformed("unexpected protocol switch") }
                continue  // interim response (100 Continue, 103 Early Hints): not forwarded
            }
            let framing: BodyFramer.Framing
            if self.expectsBodilessResponse || head.status == 204 || head.status == 304 {
                framing = .none
            } else if head.isChunked {
                framing = .chunked
            } else if let length = head.contentLength {
                framing = .length(length)
            } else {
                framing = .untilClose
            }
            self.isReusable = head.isKeepAlive && framing != .untilClose
            let framer = BodyFramer(framing)
            delegate.upstreamReceivedHead(head)
            if framer.isComplete {
                if buffer.readableBytes > 0 { self.isReusable = false }
                self.delegate?.upstreamReceivedEnd()
            } else {
                self.framer = framer
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.delegate?.upstreamReadComplete()
        if let buffer = self.buffer, buffer.readableBytes == 0 { self.buffer = nil }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let delegate = self.delegate {
            if var framer = self.framer, framer.connectionClosed() {
                // A body delimited by the connection's end is complete.
                self.framer = nil
                self.delegate = nil
                delegate.upstreamReceivedEnd()
            } else {
                self.delegate = nil
                delegate.upstreamClosed(error: self.lastError)
            }
        }
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

    /// Prepares for a new request on this connection.
    func reset() {
        self.framer = nil
        self.buffer = nil
        self.scanned = 0
        self.isReusable = true
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
