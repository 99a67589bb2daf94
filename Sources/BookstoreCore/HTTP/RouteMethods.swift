import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route template of a router serves, to answer 405 with `Allow` for a known path.
///
/// Routes are added while the service is built and only read afterwards; the lock keeps it `Sendable`.
public final class RouteMethods: Sendable {
    struct Entry {
        let path: RouterPath
        var methods: [HTTPRequest.Method]
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    func add(_ path: RouterPath, method: HTTPRequest.Method) {
        self.entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.path == path }) {
                if !entries[index].methods.contains(method) { entries[index].methods.append(method) }
            } else {
                entries.append(Entry(path: path, methods: [method]))
            }
        }
    }

    /// The methods served at `path`, in registration order, or nil when no route template matches it.
    ///
    /// Like the router's trie, the most specific template wins: at each segment a literal beats a capture, which
    /// beats a wildcard.
    public func allowed(at path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return self.entries.withLock { entries -> [HTTPRequest.Method]? in
            var best: (entry: Entry, rank: [Int])?
            for entry in entries {
                guard let rank = Self.rank(entry.path, segments) else { continue }
                if best == nil || rank.lexicographicallyPrecedes(best!.rank) { best = (entry, rank) }
            }
            return best?.entry.methods
        }
    }

    /// The `Allow` header value for `methods` (HEAD is not added: routes serve it only when registered).
    public static func allowHeader(_ methods: [HTTPRequest.Method]) -> String {
        methods.map(\.rawValue).joined(separator: ", ")
    }

    /// Per segment 0 for a literal, 1 for a capture, 2 for a wildcard; nil when the template does not match.
    static func rank(_ template: RouterPath, _ segments: [Substring]) -> [Int]? {
        var rank: [Int] = []
        var index = 0
        for element in template {
            if element == .recursiveWildcard { return rank + [3] }
            guard index < segments.count, element ~= segments[index] else { return nil }
            rank.append(element == segments[index] ? 0 : (element.description.contains("{") ? 1 : 2))
            index += 1
        }
        return index == segments.count ? rank : nil
    }
}
