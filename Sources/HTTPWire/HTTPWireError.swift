/// A malformed or unsupported HTTP/1.1 message (the connection cannot continue).
public struct HTTPWireError: Error, CustomStringConvertible {
    /// What went wrong, as the gateway answers it (400, 431, 501).
    public enum Kind: Sendable {
        /// The bytes are not a valid HTTP/1.1 message (or are ambiguous).
        case malformed
        /// The head exceeds ``MessageHead/maximumSize``.
        case headTooLarge
        /// A `Transfer-Encoding` other than a single `chunked`.
        case unsupportedTransferCoding
    }

    /// The class of the failure.
    public let kind: Kind
    /// What was wrong, for logs (never the message's bytes).
    public let detail: String

    /// A ``Kind/malformed`` error with `detail`.
    public static func malformed(_ detail: String) -> HTTPWireError { HTTPWireError(kind: .malformed, detail: detail) }

    /// The kind and the detail.
    public var description: String { "\(self.kind): \(self.detail)" }
}
