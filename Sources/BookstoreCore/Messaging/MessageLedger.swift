/// Remembers which messages of a queue have been processed, shared by every replica that consumes the queue, so a
/// message delivered twice (a redelivery, or a duplicate publish reaching another replica) is processed once.
public protocol MessageLedger: Sendable {
    /// Records `messageID` as processed for `queue`; false when it was already recorded.
    func claim(messageID: String, queue: String) async throws -> Bool
    /// Forgets a claim whose processing failed, so a redelivery is processed.
    func release(messageID: String, queue: String) async throws
}
