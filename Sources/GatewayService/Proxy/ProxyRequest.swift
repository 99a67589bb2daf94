import BookstoreCore
import HTTPTypes
import HTTPWire
import NIOCore

/// A request ready to be forwarded: the request line and field lines to send upstream (path rewritten, hop-by-hop
/// fields stripped, forwarding fields added; `Host` and the empty line are added per replica), where to send it, and
/// what the proxy may do with it. (An object: a value would be copied field by field, five references each time,
/// from the plan into its exchange, which costs more than its one allocation.)
final class ProxyRequest: Sendable {
    let method: String
    /// The request line and the field lines (each with its CRLF), without `Host` and without the empty line.
    let head: ByteBuffer
    /// The request body's framing; its bytes are forwarded as they came (chunked stays chunked).
    let framing: BodyFramer.Framing
    let upstream: Upstream
    let requestID: String
    let responseTimeout: TimeAmount
    /// Whether the request may be sent again after it may have reached a replica: idempotent methods
    /// (GET, HEAD, OPTIONS, PUT, DELETE) and requests with an `Idempotency-Key`.
    let isIdempotent: Bool
    /// `Access-Control-Allow-Origin` for the response, when the request carried an `Origin`.
    let allowOrigin: String?
    /// The client's HTTP minor version (0 or 1).
    let clientVersionMinor: Int

    let hasBody: Bool
    let isHead: Bool

    init(
        method: String,
        head: ByteBuffer,
        framing: BodyFramer.Framing,
        upstream: Upstream,
        requestID: String,
        responseTimeout: TimeAmount,
        isIdempotent: Bool,
        allowOrigin: String?,
        clientVersionMinor: Int
    ) {
        self.method = method
        self.head = head
        self.framing = framing
        self.upstream = upstream
        self.requestID = requestID
        self.responseTimeout = responseTimeout
        self.isIdempotent = isIdempotent
        self.allowOrigin = allowOrigin
        self.clientVersionMinor = clientVersionMinor
        self.hasBody = framing != .none
        self.isHead = method == "HEAD"
    }
}
