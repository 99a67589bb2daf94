import Foundation
import JSONKit
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A `LogHandler` writing one JSON object per line to standard output: `@timestamp`, `log.level`, `message`,
/// `service.name`, `request.id`, `trace.id` and the remaining metadata under their dotted keys. Values of keys
/// that look secret (password, token, secret, authorization) are replaced by `[REDACTED]`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let sink: LogSink

    public init(label: String, level: Logger.Level = .info, sink: LogSink = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object = JSONObject()
        object["@timestamp"] = .string(Timestamp.iso8601(Date()))
        object["log.level"] = .string(event.level.rawValue)
        object["message"] = .string(event.message.description)
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        object["service.name"] = .string(merged.removeValue(forKey: "service.name")?.description ?? self.label)
        for key in ["request.id", "trace.id"] {
            if let value = merged.removeValue(forKey: key) { object[key] = .string(value.description) }
        }
        object["log.logger"] = .string(self.label)
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            object[key] = Self.isSecret(key) ? .string("[REDACTED]") : Self.json(value)
        }
        var line = JSON.object(object).bytes
        line.append(UInt8(ascii: "\n"))
        self.sink.write(line)
    }

    static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "token", "secret", "authorization", "cookie"].contains { lowered.contains($0) }
    }

    static func json(_ value: Logger.MetadataValue) -> JSON {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary):
            .object(JSONObject(members: dictionary.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }
}

extension JSONObject {
    init(members: [(String, JSON)]) {
        self.init()
        for (key, value) in members { self[key] = value }
    }
}

/// Where log lines go. Lines are written whole, so concurrent lines never interleave.
public final class LogSink: Sendable {
    private let lines = Mutex<[String]>([])
    private let isCapturing: Bool

    private init(capturing: Bool) {
        self.isCapturing = capturing
    }

    /// Standard output.
    public static let standardOutput = LogSink(capturing: false)

    /// An in-memory sink for tests.
    public static func capturing() -> LogSink { LogSink(capturing: true) }

    /// The lines captured so far (capturing sinks only).
    public var capturedLines: [String] { self.lines.withLock { $0 } }

    func write(_ line: [UInt8]) {
        if self.isCapturing {
            self.lines.withLock { $0.append(String(decoding: line.dropLast(), as: UTF8.self)) }
            return
        }
        line.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
