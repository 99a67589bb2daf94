import Foundation
import JSONKit

/// Why an OpenAPI document could not be loaded.
public struct OpenAPIDocumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

/// An OpenAPI 3.0 document, loaded for black-box checks: finding the operation a request hits and validating
/// a response (status, content type, body) against what the document promises.
///
/// The document is kept as `JSON`; local references (`#/components/...`) are checked when it is loaded and
/// followed lazily, so recursive schemas work and reference cycles are reported instead of looping.
/// External references are refused.
public struct OpenAPIDocument: Sendable {
    /// The whole document as JSON, references left in place.
    public let root: JSON
    let paths: [PathEntry]

    /// Loads a document from YAML (JSON is YAML too).
    public init(yaml: String) throws(OpenAPIDocumentError) {
        try self.init(json: YAMLDecoding.json(fromYAML: yaml))
    }

    /// Loads a document from a YAML or JSON file.
    public init(contentsOf path: String) throws(OpenAPIDocumentError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw OpenAPIDocumentError("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            try self.init(yaml: text)
        } catch {
            throw OpenAPIDocumentError("\(path): \(error.message)")
        }
    }

    /// Uses a document already in JSON form.
    public init(json root: JSON) throws(OpenAPIDocumentError) {
        guard case .object(let object) = root else { throw OpenAPIDocumentError("an OpenAPI document must be an object") }
        guard let version = object["openapi"]?.stringValue else {
            throw OpenAPIDocumentError("the document has no 'openapi' version string")
        }
        guard version.hasPrefix("3.0.") else {
            throw OpenAPIDocumentError("unsupported OpenAPI version \(version): only 3.0.x is supported")
        }
        guard case .object(let pathsObject)? = object["paths"] else {
            throw OpenAPIDocumentError("the document has no 'paths' object")
        }
        try Self.checkReferences(in: root, root: root, location: "$")
        self.root = root
        self.paths = pathsObject.map { PathEntry(template: $0.key, item: $0.value) }
    }

    /// The document's `info.title`.
    public var title: String? { self.root["info"]?["title"]?.stringValue }

    /// The document's `info.version`.
    public var version: String? { self.root["info"]?["version"]?.stringValue }

    /// The value a local reference (`#/components/schemas/Payment`) points to; nil when it does not resolve.
    public func resolveReference(_ reference: String) -> JSON? {
        Self.resolveReference(reference, in: self.root)
    }

    /// `value` with any chain of `$ref`s followed (`{"$ref": "#/a"}` becomes what `#/a` holds); `value` itself
    /// when it is not a reference. A chain that loops or dangles ends at the last value reached.
    public func resolve(_ value: JSON) -> JSON {
        Self.resolve(value, in: self.root)
    }

    /// A schema that refers to `#/components/schemas/<name>`, or nil when the document has no such schema.
    public func schema(named name: String) -> JSON? {
        guard self.root["components"]?["schemas"]?[name] != nil else { return nil }
        return ["$ref": .string("#/components/schemas/\(JSONPointer.escape(name))")]
    }

    /// Validates a JSON value against a schema of this document (its `$ref`s resolve here).
    public func validate(_ value: JSON, against schema: JSON) -> [ContractViolation] {
        SchemaValidator(root: self.root).validate(value, against: schema)
    }

    // MARK: References

    static func resolveReference(_ reference: String, in root: JSON) -> JSON? {
        guard reference.hasPrefix("#") else { return nil }
        return JSONPointer.evaluate(String(reference.dropFirst()), in: root)
    }

    static func resolve(_ value: JSON, in root: JSON) -> JSON {
        var current = value
        var seen: Set<String> = []
        while case .string(let reference)? = current["$ref"], seen.insert(reference).inserted,
            let target = Self.resolveReference(reference, in: root)
        {
            current = target
        }
        return current
    }

    /// Every `$ref` must be local and resolve, and no chain of references may loop back on itself.
    private static func checkReferences(in value: JSON, root: JSON, location: String) throws(OpenAPIDocumentError) {
        switch value {
        case .object(let object):
            if case .string(let reference)? = object["$ref"] {
                guard reference.hasPrefix("#") else {
                    throw OpenAPIDocumentError("\(location): external reference '\(reference)' is not supported")
                }
                var seen: Set<String> = [reference]
                var target = Self.resolveReference(reference, in: root)
                while true {
                    guard let resolved = target else {
                        throw OpenAPIDocumentError("\(location): reference '\(reference)' does not resolve")
                    }
                    guard case .string(let next)? = resolved["$ref"] else { break }
                    guard seen.insert(next).inserted else {
                        throw OpenAPIDocumentError("\(location): reference '\(reference)' is a cycle of references")
                    }
                    target = Self.resolveReference(next, in: root)
                }
            }
            for (key, member) in object {
                try Self.checkReferences(in: member, root: root, location: "\(location)/\(JSONPointer.escape(key))")
            }
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                try Self.checkReferences(in: element, root: root, location: "\(location)/\(index)")
            }
        default:
            break
        }
    }
}

/// JSON Pointer (RFC 6901) as used in URI fragments (`#/components/schemas/Payment`).
enum JSONPointer {
    static func evaluate(_ pointer: String, in root: JSON) -> JSON? {
        guard !pointer.isEmpty else { return root }
        guard pointer.hasPrefix("/") else { return nil }
        var current = root
        for rawToken in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = String(rawToken).removingPercentEncoding ?? String(rawToken)
            let token = decoded.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch current {
            case .object(let object):
                guard let next = object[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
