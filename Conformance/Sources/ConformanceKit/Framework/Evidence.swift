import Foundation
import Synchronization

/// One HTTP request and its response (or transport error), as evidence.
public struct HTTPExchange: Sendable {
    public var method: String
    public var url: String
    public var requestHeaders: [(name: String, value: String)]
    public var requestBody: [UInt8]
    public var status: Int?
    public var responseHeaders: [(name: String, value: String)]
    public var responseBody: [UInt8]
    public var error: String?
    public var startedAt: Date
    public var duration: Duration

    /// A readable transcript, bodies cut to `limit` bytes.
    public func transcript(limit: Int = 2048) -> String {
        var lines = ["> \(self.method) \(self.url)"]
        for header in self.requestHeaders { lines.append("> \(header.name): \(Self.redact(header))") }
        if !self.requestBody.isEmpty { lines.append("> " + Evidence.excerpt(self.requestBody, limit: limit)) }
        if let status = self.status {
            lines.append("< \(status)  (\(Evidence.milliseconds(self.duration)) ms)")
            for header in self.responseHeaders { lines.append("< \(header.name): \(header.value)") }
            if !self.responseBody.isEmpty { lines.append("< " + Evidence.excerpt(self.responseBody, limit: limit)) }
        } else {
            lines.append("< no response after \(Evidence.milliseconds(self.duration)) ms: \(self.error ?? "unknown error")")
        }
        return lines.joined(separator: "\n")
    }

    /// Bearer tokens are shortened so reports do not carry usable credentials.
    static func redact(_ header: (name: String, value: String)) -> String {
        guard header.name.lowercased() == "authorization", header.value.count > 24 else { return header.value }
        return String(header.value.prefix(20)) + "…(\(header.value.count) chars)"
    }
}

/// One piece of evidence a check leaves behind.
public enum EvidenceEntry: Sendable {
    case exchange(HTTPExchange)
    case note(String)
    case measurement(name: String, value: String)

    public var text: String {
        switch self {
        case .exchange(let exchange): exchange.transcript()
        case .note(let note): "# " + note
        case .measurement(let name, let value): "= \(name): \(value)"
        }
    }
}

/// The evidence of one check, shared by everything the check calls; bounded so that a check making thousands of
/// requests keeps a readable report.
public final class Evidence: Sendable {
    public static let maximumEntries = 60
    private let state = Mutex<(entries: [EvidenceEntry], dropped: Int)>(([], 0))

    public init() {}

    public func add(_ entry: EvidenceEntry) {
        self.state.withLock { state in
            if state.entries.count < Self.maximumEntries {
                state.entries.append(entry)
            } else {
                state.dropped += 1
            }
        }
    }

    public var entries: [EvidenceEntry] {
        self.state.withLock { state in
            state.dropped == 0 ? state.entries : state.entries + [.note("\(state.dropped) more entries not kept")]
        }
    }

    /// The bytes as text: valid UTF-8 as is (cut at `limit`), anything else as an escaped excerpt.
    public static func excerpt(_ bytes: [UInt8], limit: Int) -> String {
        let cut = Array(bytes.prefix(limit))
        var text = String(decoding: cut, as: UTF8.self)
        if String(validating: cut, as: UTF8.self) == nil {
            text = cut.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
        }
        if bytes.count > limit { text += "…(\(bytes.count) bytes)" }
        return text
    }

    public static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", duration.asSeconds * 1000)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var asSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
