import Synchronization

/// Tokens that passed verification, so that a client sending the same token again costs a dictionary lookup instead
/// of two base64 decodings, two JSON parses and an HMAC.
///
/// Keyed by the whole token, signature included: only the exact string that verified can hit, and only tokens signed
/// with the service's key are ever stored. A hit still checks the expiry against the caller's clock. Bounded: when
/// ``capacity`` tokens are stored, the cache starts over empty.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let identity: Identity
        /// `exp`, in seconds since 1970.
        let expiry: Double
    }

    let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    func entry(for token: String) -> Entry? {
        self.entries.withLock { $0[token] }
    }

    func store(_ entry: Entry, for token: String) {
        self.entries.withLock { entries in
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = entry
        }
    }
}
