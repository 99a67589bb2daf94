import HTTPTypes
import Hummingbird
import NIOCore

/// The request context every bookstore service uses.
public struct BookstoreRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the incoming `X-Request-ID` when acceptable, otherwise a new UUID.
    public var requestID: String = ""
    /// The peer's IP address, when the transport knows it.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are collected explicitly with a configured limit; this caps any framework-side decoding.
    public var maxUploadSize: Int { 1 << 20 }

    /// The client address used for rate limiting: the first `X-Forwarded-For` hop (set by the gateway), else the peer.
    public func clientAddress(_ request: Request) -> String {
        if let forwarded = request.headers[.forwardedFor],
            let first = forwarded.split(separator: ",").first.map({ String($0).trimmingWhitespace() }),
            !first.isEmpty
        {
            return first
        }
        return self.remoteAddress ?? "unknown"
    }
}
