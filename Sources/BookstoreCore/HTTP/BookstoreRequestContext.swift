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

    /// The client address used for rate limiting: the peer, unless the peer is one of `proxies` (the gateway); then the
    /// `X-Forwarded-For` hop they vouch for (``TrustedProxies/clientAddress(peer:forwardedFor:)``). `unknown` when the
    /// transport does not know the peer.
    public func clientAddress(_ request: Request, trusting proxies: TrustedProxies) -> String {
        guard let peer = self.remoteAddress, proxies.contains(peer) else { return self.remoteAddress ?? "unknown" }
        let values = request.headers[values: .forwardedFor]
        return proxies.clientAddress(peer: peer, forwardedFor: values.isEmpty ? nil : values.joined(separator: ","))
    }
}
