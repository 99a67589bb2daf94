import Foundation
import JSONKit
import Logging

/// A `LogHandler` writing one JSON object per line to standard output: `@timestamp`, `log.level`, `message`,
/// `service.name`, `request.id`, `trace.id` and the remaining metadata under their dotted keys. Values of keys
/// that look secret (password, token, secret, authorization) are replaced by `[REDACTED]`.
///
/// A line is written straight into bytes (no intermediate JSON tree, no date formatter) and handed to a ``LogSink``,
/// which by default buffers it and writes it from a thread of its own: logging costs the request path no system call.
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

    /// The keys written right after `message`, in this order, instead of with the sorted rest.
    private static let leadingKeys = ["service.name", "request.id", "trace.id"]

    /// Keys of the fixed members that metadata may override in place.
    private static let fixedKeys: Set = ["@timestamp", "log.level", "message", "log.logger"]

    /// Whether `key` is one of ``fixedKeys`` (their first bytes rule out nearly every other key without hashing it).
    static func isFixedKey(_ key: String) -> Bool {
        switch key.utf8.first {
        case UInt8(ascii: "@"), UInt8(ascii: "l"), UInt8(ascii: "m"): Self.fixedKeys.contains(key)
        default: false
        }
    }

    public func log(event: LogEvent) {
        let extra = event.metadata ?? [:]
        if extra.keys.contains(where: Self.isFixedKey) || self.metadata.keys.contains(where: Self.isFixedKey) {
            return self.sink.write(self.objectLine(event))
        }
        var line: [UInt8] = []
        line.reserveCapacity(384)
        line.append(contentsOf: #"{"@timestamp":""#.utf8)
        Timestamp.appendISO8601(Date(), to: &line)
        line.append(contentsOf: #"","log.level":""#.utf8)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(contentsOf: #"","message":"#.utf8)
        JSON.writeString(event.message.description, into: &line)
        line.append(contentsOf: #","service.name":"#.utf8)
        JSON.writeString((extra["service.name"] ?? self.metadata["service.name"])?.description ?? self.label, into: &line)
        for key in ["request.id", "trace.id"] {
            guard let value = extra[key] ?? self.metadata[key] else { continue }
            line.append(contentsOf: #",""#.utf8)
            line.append(contentsOf: key.utf8)
            line.append(contentsOf: #"":"#.utf8)
            JSON.writeString(value.description, into: &line)
        }
        line.append(contentsOf: #","log.logger":"#.utf8)
        JSON.writeString(self.label, into: &line)
        // The rest: the handler's metadata overridden by the event's, in key order.
        var rest: [(key: String, value: Logger.MetadataValue)] = []
        rest.reserveCapacity(self.metadata.count + extra.count)
        for (key, value) in self.metadata where extra[key] == nil && !Self.leadingKeys.contains(key) { rest.append((key, value)) }
        for (key, value) in extra where !Self.leadingKeys.contains(key) { rest.append((key, value)) }
        rest.sort { $0.key < $1.key }
        for (key, value) in rest {
            line.append(UInt8(ascii: ","))
            JSON.writeString(key, into: &line)
            line.append(UInt8(ascii: ":"))
            if Self.isSecret(key) {
                line.append(contentsOf: #""[REDACTED]""#.utf8)
            } else {
                Self.write(value, into: &line)
            }
        }
        line.append(contentsOf: "}\n".utf8)
        self.sink.write(line)
    }

    /// The line built as a JSON object, for the rare event whose metadata overrides a fixed member.
    private func objectLine(_ event: LogEvent) -> [UInt8] {
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
        return line
    }

    private static let secretWords: [[UInt8]] = ["password", "token", "secret", "authorization", "cookie"].map { Array($0.utf8) }

    /// Whether `key` contains a secret-looking word, ASCII case-insensitively (on bytes: Foundation's `contains` would
    /// bridge to `NSString` for every key of every line).
    static func isSecret(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { bytes in
            Self.secretWords.contains { word in
                guard bytes.count >= word.count else { return false }
                return (0...(bytes.count - word.count)).contains { start in
                    var offset = 0
                    while offset < word.count {
                        let byte = bytes[start + offset]
                        guard (byte | ((0x41...0x5A).contains(byte) ? 0x20 : 0)) == word[offset] else { return false }
                        offset += 1
                    }
                    return true
                }
            }
        }
    }

    static func write(_ value: Logger.MetadataValue, into line: inout [UInt8]) {
        switch value {
        case .string(let text): JSON.writeString(text, into: &line)
        case .stringConvertible(let convertible): JSON.writeString(convertible.description, into: &line)
        case .array, .dictionary: json(value).write(into: &line)
        }
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
