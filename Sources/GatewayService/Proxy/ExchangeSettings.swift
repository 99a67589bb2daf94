import BookstoreCore

/// The fixed parameters of every exchange.
struct ExchangeSettings: Sendable {
    var maxAttempts: Int
    var backoff: RetryPolicy
    /// Bodies up to this many bytes are kept so that the request can be sent again.
    var replayableBodyLimit: Int
    /// A planted defect (``RetrySeam``): every failed attempt is sent again, whatever the method and the outcome.
    var resendsEveryFailedRequest = false
}
