import Foundation

/// A small subset of JSONPath for capturing values from responses: `$.token`, `$.user.id`, `$.items[0].id`, `$['key']`.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    /// The text the path was parsed from.
    public let source: String
    let components: [Component]

    /// Parses a path.
    ///
    /// - Throws: ``ScenarioError`` when the path does not start with `$` or is malformed.
    public init(_ source: String) throws(ScenarioError) {
        self.source = source
        var chars = Array(source.trimmingSpaces())
        guard chars.first == "$" else { throw ScenarioError("invalid JSON path '\(source)': it must start with '$', e.g. $.token") }
        chars.removeFirst()
        var components: [Component] = []
        var position = 0
        func fail() -> ScenarioError { ScenarioError("invalid JSON path '\(source)'") }
        while position < chars.count {
            switch chars[position] {
            case ".":
                position += 1
                let start = position
                while position < chars.count, chars[position] != ".", chars[position] != "[" { position += 1 }
                guard position > start else { throw fail() }
                components.append(.key(String(chars[start..<position])))
            case "[":
                position += 1
                guard position < chars.count else { throw fail() }
                if chars[position] == "'" || chars[position] == "\"" {
                    let quote = chars[position]
                    position += 1
                    let start = position
                    while position < chars.count, chars[position] != quote { position += 1 }
                    guard position + 1 < chars.count, chars[position + 1] == "]" else { throw fail() }
                    components.append(.key(String(chars[start..<position])))
                    position += 2
                } else {
                    let start = position
                    while position < chars.count, chars[position] != "]" { position += 1 }
                    guard position < chars.count, let index = Int(String(chars[start..<position])), index >= 0 else { throw fail() }
                    components.append(.index(index))
                    position += 1
                }
            default:
                throw fail()
            }
        }
        self.components = components
    }

    public var description: String { source }

    /// Extracts the value at the path from a JSON document, as text.
    ///
    /// Strings come back unquoted, numbers and Booleans as JSON text, objects and arrays as compact JSON.
    /// - Parameter json: The JSON document's bytes.
    /// - Returns: The value, or nil when the document is not JSON or the path does not exist or is `null`.
    public func extract(from json: [UInt8]) -> String? {
        guard var value = try? JSONDecoder().decode(JSONValue.self, from: Data(json)) else { return nil }
        for component in components {
            switch (component, value) {
            case (.key(let key), .object(let object)):
                guard let next = object[key] else { return nil }
                value = next
            case (.index(let index), .array(let array)):
                guard index < array.count else { return nil }
                value = array[index]
            default:
                return nil
            }
        }
        return value.text
    }
}

/// A decoded JSON value.
enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Strings unquoted, scalars as JSON text, containers as compact JSON; nil for null.
    var text: String? {
        switch self {
        case .null: return nil
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): return value
        case .array, .object:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(self) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
