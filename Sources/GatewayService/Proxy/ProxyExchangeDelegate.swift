import BookstoreCore
import HTTPWire
import NIOCore

/// Receives an exchange's response, on the exchange's event loop.
protocol ProxyExchangeDelegate: AnyObject {
    /// The upstream's response head (the delegate filters and completes it for its client).
    func exchangeDidReceiveHead(_ head: MessageHead)
    /// Body bytes, as the replica sent them (or decoded, when the exchange was asked to decode).
    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer)
    /// The end of a batch of reads from the upstream: a good moment to flush.
    func exchangeShouldFlush()
    func exchangeDidFinish()
    /// The exchange failed. Before the response head went out, `error` is the response to send; after, the response
    /// must be cut off (close the connection).
    func exchangeDidFail(_ error: APIError, responseStarted: Bool)
    /// The exchange can take more request body now.
    func exchangeWantsRequestBody()
}
