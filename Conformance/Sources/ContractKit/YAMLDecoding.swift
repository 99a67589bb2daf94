import JSONKit
import Yams

/// Turns a YAML document into `JSON`, with the YAML 1.2 core schema's reading of plain scalars: only
/// `true`/`false` are booleans (not `yes`/`on`), `null`/`~`/empty are null, integers and floats become
/// number literals (kept as written when they are valid JSON, so `0.01` stays exact), and everything else
/// (dates included) stays a string. Mapping keys are always strings (`200:` is the key `"200"`).
enum YAMLDecoding {
    static func json(fromYAML text: String) throws(OpenAPIDocumentError) -> JSON {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text, Self.resolver())
        } catch {
            throw OpenAPIDocumentError("invalid YAML: \(error)")
        }
        guard let node else { throw OpenAPIDocumentError("the YAML document is empty") }
        return try Self.json(from: node, path: "$")
    }

    private static func resolver() throws(OpenAPIDocumentError) -> Resolver {
        do {
            let bool = try Resolver.Rule(.bool, "^(?:true|True|TRUE|false|False|FALSE)$")
            return Resolver.basic.appending(bool).appending(.null).appending(.int).appending(.float)
        } catch {
            throw OpenAPIDocumentError("cannot build the YAML resolver: \(error)")
        }
    }

    private static func json(from node: Node, path: String) throws(OpenAPIDocumentError) -> JSON {
        switch node {
        case .scalar(let scalar):
            return try Self.json(fromScalar: scalar.string, tag: node.tag.description, path: path)
        case .sequence(let sequence):
            var elements: [JSON] = []
            for (index, element) in sequence.enumerated() {
                elements.append(try Self.json(from: element, path: "\(path)[\(index)]"))
            }
            return .array(elements)
        case .mapping(let mapping):
            var object = JSONObject()
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw OpenAPIDocumentError("\(path): mapping keys must be scalars")
                }
                let key = keyScalar.string
                if key == "<<", keyScalar.style == .plain {
                    throw OpenAPIDocumentError("\(path): YAML merge keys (<<) are not supported")
                }
                guard object[key] == nil else { throw OpenAPIDocumentError("\(path): duplicate key '\(key)'") }
                object[key] = try Self.json(from: valueNode, path: "\(path).\(key)")
            }
            return .object(object)
        }
    }

    private static func json(fromScalar string: String, tag: String, path: String) throws(OpenAPIDocumentError) -> JSON {
        switch tag {
        case Tag.Name.null.rawValue:
            return .null
        case Tag.Name.bool.rawValue:
            return .bool(string.lowercased() == "true")
        case Tag.Name.int.rawValue:
            if let literal = Self.integerLiteral(string) { return .number(literal) }
            throw OpenAPIDocumentError("\(path): the integer \(string) is not representable in JSON")
        case Tag.Name.float.rawValue:
            if DecimalNumber(literal: string) != nil, Self.isJSONNumberLiteral(string) { return .number(string) }
            let cleaned = string.filter { $0 != "_" }
            if let value = Double(cleaned), value.isFinite { return .number("\(value)") }
            throw OpenAPIDocumentError("\(path): the number \(string) is not representable in JSON")
        default:
            return .string(string)
        }
    }

    /// A YAML integer (`42`, `-7`, `+3`, `0x1F`, `0o17`, `1_000`) as a JSON integer literal.
    private static func integerLiteral(_ text: String) -> String? {
        var body = Substring(text.filter { $0 != "_" })
        var negative = false
        if let sign = body.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        let radix: Int
        if body.hasPrefix("0x") {
            radix = 16
            body = body.dropFirst(2)
        } else if body.hasPrefix("0o") {
            radix = 8
            body = body.dropFirst(2)
        } else if body.hasPrefix("0b") {
            radix = 2
            body = body.dropFirst(2)
        } else {
            radix = 10
        }
        guard let magnitude = UInt64(body, radix: radix) else { return nil }
        return magnitude == 0 ? "0" : (negative ? "-" : "") + String(magnitude)
    }

    /// Whether `text` follows the JSON number grammar exactly (no `+`, no leading zeros, digits around `.`).
    private static func isJSONNumberLiteral(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let integer = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !integer.isEmpty, integer.count == 1 || integer.first != UInt8(ascii: "0") else { return false }
        bytes = bytes.dropFirst(integer.count)
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            let fraction = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !fraction.isEmpty else { return false }
            bytes = bytes.dropFirst(fraction.count)
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            let exponent = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !exponent.isEmpty else { return false }
            bytes = bytes.dropFirst(exponent.count)
        }
        return bytes.isEmpty
    }
}
