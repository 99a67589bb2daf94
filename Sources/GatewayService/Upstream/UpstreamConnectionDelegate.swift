import HTTPWire
import NIOCore

/// What an upstream connection reports to the exchange using it (on the connection's event loop).
protocol UpstreamConnectionDelegate: AnyObject {
    /// A final response head (interim 1xx responses are skipped).
    func upstreamReceivedHead(_ head: MessageHead)
    /// Response body bytes: as received, or the chunk data when the connection decodes.
    func upstreamReceivedBody(_ buffer: ByteBuffer)
    /// The response is complete.
    func upstreamReceivedEnd()
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed (or failed) while this delegate owned it and the response was incomplete.
    func upstreamClosed(error: (any Error)?)
}
