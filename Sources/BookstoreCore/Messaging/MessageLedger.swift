import Foundation
import Synchronization

/// What a ledger says about a message that is about to be processed.
public enum LedgerClaim: Sendable, Equatable {
    /// This consumer may process it: it was never claimed, or an earlier claim's lease ran out without completing (its
    /// consumer died or could not release it).
    case claimed
    /// Its effect is stored: a copy of it is a duplicate.
    case completed
    /// Another consumer holds an unexpired lease on it and may still complete it.
    case inProgress
}

/// Remembers which messages of a queue have been processed, shared by every replica that consumes the queue, so a
/// message delivered twice (a redelivery, or a duplicate publish reaching another replica) is processed once.
///
/// A message is a duplicate only once its handler has finished (``complete(messageID:queue:)``): a claim is a lease,
/// so a consumer that dies mid-handler, or whose ``release(messageID:queue:)`` fails with the store, does not make the
/// redelivered copy look processed — the copy is processed once the lease runs out.
public protocol MessageLedger: Sendable {
    /// Claims `messageID` of `queue` for processing until `leaseUntil`, atomically: of concurrent claims one wins.
    func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim
    /// Records that the message's effect is stored: later copies are duplicates.
    func complete(messageID: String, queue: String) async throws
    /// Gives up a claim whose processing failed, so a redelivery is processed at once (a completed message stays
    /// completed).
    func release(messageID: String, queue: String) async throws
}

/// A ledger in memory (embedded mode and tests), with the same lease rules as the database ledgers.
public final class MemoryMessageLedger: MessageLedger {
    private struct Key: Hashable {
        var queue: String
        var messageID: String
    }

    private enum Entry {
        case leased(until: Date)
        case completed
    }

    private let entries = Mutex<[Key: Entry]>([:])

    public init() {}

    public func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim {
        self.entries.withLock { entries in
            let key = Key(queue: queue, messageID: messageID)
            switch entries[key] {
            case .completed: return .completed
            case .leased(let until) where until >= now: return .inProgress
            case .leased, nil:
                entries[key] = .leased(until: leaseUntil)
                return .claimed
            }
        }
    }

    public func complete(messageID: String, queue: String) async throws {
        self.entries.withLock { $0[Key(queue: queue, messageID: messageID)] = .completed }
    }

    public func release(messageID: String, queue: String) async throws {
        self.entries.withLock { entries in
            let key = Key(queue: queue, messageID: messageID)
            if case .leased = entries[key] { entries[key] = nil }
        }
    }
}
