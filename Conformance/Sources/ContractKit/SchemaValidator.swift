import JSONKit

/// Validates JSON values against OpenAPI 3.0 schema objects.
///
/// Supported keywords: `$ref` (local; siblings ignored as OpenAPI 3.0 says), `type` (`object`, `array`,
/// `string`, `number`, `integer` — a literal without fraction or exponent — and `boolean`), `nullable`
/// (`true` makes `null` valid for the whole schema), `enum`, `properties`, `required`, `additionalProperties`
/// (boolean or schema), `items`, `minItems`, `maxItems`, `minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum` (booleans, or numbers as in later JSON Schema), `multipleOf` (exact, on the literal),
/// `minLength`, `maxLength` (in Unicode scalars), `pattern` (unanchored, Swift `Regex`), `format` (`uuid`,
/// `date-time` per RFC 3339, `date`, `email`; other formats are ignored), `allOf`, `anyOf`, `oneOf`, `not`, and
/// the extension `x-decimal-places: N` (the number is written with exactly N digits after the point, as money
/// is: `19.90`). Other keywords are ignored. A malformed schema yields a violation with keyword `schema`,
/// never a crash.
public struct SchemaValidator: Sendable {
    /// The document that `$ref`s resolve against.
    public let root: JSON

    /// - Parameter root: the document that `$ref`s (`#/components/schemas/...`) resolve against.
    public init(root: JSON = .null) {
        self.root = root
    }

    /// Validates `value` against `schema`.
    ///
    /// - Parameters:
    ///   - value: the JSON value to check.
    ///   - schema: an OpenAPI schema object (or a `$ref` to one).
    ///   - path: how the value is named in violations (`$` for a body).
    /// - Returns: every violation found; empty when the value conforms.
    public func validate(_ value: JSON, against schema: JSON, at path: String = "$") -> [ContractViolation] {
        let run = ValidationRun(root: self.root)
        var violations: [ContractViolation] = []
        run.check(value, against: schema, at: path, into: &violations)
        return violations
    }
}

/// The state of one validation: references being followed (to stop cycles) and compiled patterns.
private final class ValidationRun {
    let root: JSON
    var activeReferences: Set<String> = []
    var patterns: [String: Result<Regex<AnyRegexOutput>, PatternError>] = [:]

    struct PatternError: Error {
        let message: String
    }

    init(root: JSON) {
        self.root = root
    }

    func check(_ value: JSON, against schema: JSON, at path: String, into violations: inout [ContractViolation]) {
        switch schema {
        case .bool(true):
            return
        case .bool(false):
            violations.append(
                ContractViolation(path: path, keyword: "schema", message: "expected no value (the schema is false), saw \(describe(value))")
            )
        case .object(let schemaObject):
            self.check(value, against: schemaObject, at: path, into: &violations)
        default:
            violations.append(Self.schemaError(path, "a schema must be an object, saw \(describe(schema))"))
        }
    }

    private func check(_ value: JSON, against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        if let reference = schema["$ref"] {
            self.follow(reference, value: value, at: path, into: &violations)
            return
        }
        if value == .null, schema["nullable"]?.boolValue == true { return }
        if let type = schema["type"] {
            guard case .string(let typeName) = type, let matches = Self.value(value, hasType: typeName) else {
                violations.append(Self.schemaError(path, "unsupported type \(describe(type))"))
                return
            }
            guard matches else {
                let nullable = schema["nullable"]?.boolValue == true ? " or null" : ""
                violations.append(ContractViolation(path: path, keyword: "type", message: "expected \(typeName)\(nullable), saw \(describe(value))"))
                return
            }
        }
        if let options = schema["enum"] {
            if case .array(let allowed) = options {
                if !allowed.contains(where: { jsonEquals($0, value) }) {
                    let list = allowed.map(describe).joined(separator: ", ")
                    violations.append(ContractViolation(path: path, keyword: "enum", message: "expected one of \(list), saw \(describe(value))"))
                }
            } else {
                violations.append(Self.schemaError(path, "enum must be an array"))
            }
        }
        switch value {
        case .number(let literal): self.checkNumber(literal, against: schema, at: path, into: &violations)
        case .string(let text): self.checkString(text, against: schema, at: path, into: &violations)
        case .array(let elements): self.checkArray(elements, against: schema, at: path, into: &violations)
        case .object(let object): self.checkObject(object, against: schema, at: path, into: &violations)
        case .null, .bool: break
        }
        self.checkCombinators(value, against: schema, at: path, into: &violations)
    }

    private func follow(_ reference: JSON, value: JSON, at path: String, into violations: inout [ContractViolation]) {
        guard case .string(let pointer) = reference else {
            violations.append(Self.schemaError(path, "$ref must be a string"))
            return
        }
        // A reference met again for the same value has not consumed any of it: following it would loop forever.
        let key = pointer + "\u{0}" + path
        guard !self.activeReferences.contains(key) else {
            violations.append(Self.schemaError(path, "circular $ref \(pointer) never reaches a schema for this value"))
            return
        }
        guard let target = OpenAPIDocument.resolveReference(pointer, in: self.root) else {
            violations.append(Self.schemaError(path, "$ref \(pointer) does not resolve"))
            return
        }
        self.activeReferences.insert(key)
        defer { self.activeReferences.remove(key) }
        self.check(value, against: target, at: path, into: &violations)
    }

    /// Whether `value` has the OpenAPI type `name`; nil for an unknown type name.
    private static func value(_ value: JSON, hasType name: String) -> Bool? {
        switch (name, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("number", .number), ("boolean", .bool): true
        case ("integer", .number(let literal)): !literal.contains { $0 == "." || $0 == "e" || $0 == "E" }
        case ("object", _), ("array", _), ("string", _), ("number", _), ("boolean", _), ("integer", _): false
        default: nil
        }
    }

    // MARK: Numbers

    private func checkNumber(_ literal: String, against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        guard let number = DecimalNumber(literal: literal) else {
            violations.append(ContractViolation(path: path, keyword: "type", message: "expected a number within range, saw \(literal)"))
            return
        }
        for (keyword, exclusiveKeyword, isMinimum) in [("minimum", "exclusiveMinimum", true), ("maximum", "exclusiveMaximum", false)] {
            var bounds: [(bound: DecimalNumber, text: String, exclusive: Bool)] = []
            if let boundValue = schema[keyword] {
                guard case .number(let text) = boundValue, let bound = DecimalNumber(literal: text) else {
                    violations.append(Self.schemaError(path, "\(keyword) must be a number"))
                    continue
                }
                bounds.append((bound, text, schema[exclusiveKeyword]?.boolValue == true))
            }
            // Later JSON Schema writes an exclusive bound as a number; accept that form too.
            if case .number(let text)? = schema[exclusiveKeyword], let bound = DecimalNumber(literal: text) {
                bounds.append((bound, text, true))
            }
            for (bound, text, exclusive) in bounds {
                let fails = isMinimum ? (exclusive ? !(bound < number) : number < bound) : (exclusive ? !(number < bound) : bound < number)
                if fails {
                    let relation = isMinimum ? (exclusive ? ">" : ">=") : (exclusive ? "<" : "<=")
                    violations.append(
                        ContractViolation(path: path, keyword: keyword, message: "expected a number \(relation) \(text), saw \(literal)")
                    )
                }
            }
        }
        if let divisorValue = schema["multipleOf"] {
            if case .number(let text) = divisorValue, let divisor = DecimalNumber(literal: text), let isMultiple = number.isMultiple(of: divisor) {
                if !isMultiple {
                    violations.append(ContractViolation(path: path, keyword: "multipleOf", message: "expected a multiple of \(text), saw \(literal)"))
                }
            } else {
                violations.append(Self.schemaError(path, "multipleOf must be a positive number with at most 19 significant digits"))
            }
        }
        if let placesValue = schema["x-decimal-places"] {
            guard let places = placesValue.intValue, places >= 0 else {
                violations.append(Self.schemaError(path, "x-decimal-places must be a non-negative integer"))
                return
            }
            if Self.writtenDecimalPlaces(literal) != places {
                let example = places == 0 ? "20" : "19." + String(repeating: "0", count: places - 1) + "9"
                violations.append(
                    ContractViolation(
                        path: path,
                        keyword: "x-decimal-places",
                        message: "expected a number written with exactly \(places) decimal places (like \(example)), saw \(literal)"
                    )
                )
            }
        }
    }

    /// The digits after the point in a plain literal (`19.90` → 2, `20` → 0); nil when it has an exponent.
    private static func writtenDecimalPlaces(_ literal: String) -> Int? {
        guard !literal.contains(where: { $0 == "e" || $0 == "E" }) else { return nil }
        guard let point = literal.firstIndex(of: ".") else { return 0 }
        return literal.distance(from: point, to: literal.endIndex) - 1
    }

    // MARK: Strings

    private func checkString(_ text: String, against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        let length = text.unicodeScalars.count
        if let minimum = self.nonNegativeInteger(schema, "minLength", at: path, into: &violations), length < minimum {
            violations.append(
                ContractViolation(
                    path: path,
                    keyword: "minLength",
                    message: "expected at least \(minimum) characters, saw \(length): \(describe(.string(text)))"
                )
            )
        }
        if let maximum = self.nonNegativeInteger(schema, "maxLength", at: path, into: &violations), length > maximum {
            violations.append(
                ContractViolation(
                    path: path,
                    keyword: "maxLength",
                    message: "expected at most \(maximum) characters, saw \(length): \(describe(.string(text)))"
                )
            )
        }
        if let patternValue = schema["pattern"] {
            guard case .string(let pattern) = patternValue else {
                violations.append(Self.schemaError(path, "pattern must be a string"))
                return
            }
            switch self.compiled(pattern) {
            case .success(let regex):
                if text.firstMatch(of: regex) == nil {
                    violations.append(
                        ContractViolation(
                            path: path,
                            keyword: "pattern",
                            message: "expected a string matching /\(pattern)/, saw \(describe(.string(text)))"
                        )
                    )
                }
            case .failure(let error):
                violations.append(Self.schemaError(path, "pattern /\(pattern)/ does not compile: \(error.message)"))
            }
        }
        if case .string(let format)? = schema["format"], let isValid = StringFormat.check(text, format: format), !isValid {
            violations.append(
                ContractViolation(path: path, keyword: "format", message: "expected a \(format) string, saw \(describe(.string(text)))")
            )
        }
    }

    private func compiled(_ pattern: String) -> Result<Regex<AnyRegexOutput>, PatternError> {
        if let cached = self.patterns[pattern] { return cached }
        let result: Result<Regex<AnyRegexOutput>, PatternError>
        do {
            result = .success(try Regex(pattern).matchingSemantics(.unicodeScalar))
        } catch {
            result = .failure(PatternError(message: "\(error)"))
        }
        self.patterns[pattern] = result
        return result
    }

    // MARK: Arrays

    private func checkArray(_ elements: [JSON], against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        if let minimum = self.nonNegativeInteger(schema, "minItems", at: path, into: &violations), elements.count < minimum {
            violations.append(
                ContractViolation(path: path, keyword: "minItems", message: "expected at least \(minimum) items, saw \(elements.count)")
            )
        }
        if let maximum = self.nonNegativeInteger(schema, "maxItems", at: path, into: &violations), elements.count > maximum {
            violations.append(ContractViolation(path: path, keyword: "maxItems", message: "expected at most \(maximum) items, saw \(elements.count)"))
        }
        if let items = schema["items"] {
            for (index, element) in elements.enumerated() {
                self.check(element, against: items, at: "\(path)[\(index)]", into: &violations)
            }
        }
    }

    // MARK: Objects

    private func checkObject(_ object: JSONObject, against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        var properties = JSONObject()
        if let propertiesValue = schema["properties"] {
            if case .object(let declared) = propertiesValue {
                properties = declared
            } else {
                violations.append(Self.schemaError(path, "properties must be an object"))
            }
        }
        if let requiredValue = schema["required"] {
            if case .array(let names) = requiredValue {
                for case .string(let name) in names where object[name] == nil {
                    violations.append(
                        ContractViolation(
                            path: memberPath(path, name),
                            keyword: "required",
                            message: "expected required property '\(name)', saw none"
                        )
                    )
                }
            } else {
                violations.append(Self.schemaError(path, "required must be an array of names"))
            }
        }
        let additional = schema["additionalProperties"]
        for (key, member) in object {
            let childPath = memberPath(path, key)
            if let propertySchema = properties[key] {
                self.check(member, against: propertySchema, at: childPath, into: &violations)
            } else if additional == .bool(false) {
                let known = properties.keys.isEmpty ? "no properties" : "only " + properties.keys.joined(separator: ", ")
                violations.append(
                    ContractViolation(
                        path: childPath,
                        keyword: "additionalProperties",
                        message: "expected \(known), saw unexpected property '\(key)'"
                    )
                )
            } else if let additional, additional != .bool(true) {
                self.check(member, against: additional, at: childPath, into: &violations)
            }
        }
    }

    // MARK: Combinators

    private func checkCombinators(_ value: JSON, against schema: JSONObject, at path: String, into violations: inout [ContractViolation]) {
        if let allOf = schema["allOf"] {
            for branch in self.branches(allOf, "allOf", at: path, into: &violations) {
                self.check(value, against: branch, at: path, into: &violations)
            }
        }
        if let anyOf = schema["anyOf"] {
            let results = self.branches(anyOf, "anyOf", at: path, into: &violations).map { self.violations(of: value, against: $0, at: path) }
            if !results.isEmpty, !results.contains(where: \.isEmpty) {
                violations.append(Self.noBranchMatched(value, results, keyword: "anyOf", quantity: "at least one", at: path))
            }
        }
        if let oneOf = schema["oneOf"] {
            let results = self.branches(oneOf, "oneOf", at: path, into: &violations).map { self.violations(of: value, against: $0, at: path) }
            let matching = results.indices.filter { results[$0].isEmpty }
            if matching.isEmpty, !results.isEmpty {
                violations.append(Self.noBranchMatched(value, results, keyword: "oneOf", quantity: "exactly one", at: path))
            } else if matching.count > 1 {
                let list = matching.map(String.init).joined(separator: ", ")
                violations.append(
                    ContractViolation(
                        path: path,
                        keyword: "oneOf",
                        message: "expected a value matching exactly one of the \(results.count) schemas in oneOf, saw one matching schemas \(list)"
                    )
                )
            }
        }
        if let not = schema["not"], self.violations(of: value, against: not, at: path).isEmpty {
            violations.append(
                ContractViolation(path: path, keyword: "not", message: "expected a value not matching the schema in not, saw \(describe(value))")
            )
        }
    }

    private func branches(_ value: JSON, _ keyword: String, at path: String, into violations: inout [ContractViolation]) -> [JSON] {
        guard case .array(let branches) = value, !branches.isEmpty else {
            violations.append(Self.schemaError(path, "\(keyword) must be a non-empty array of schemas"))
            return []
        }
        return branches
    }

    private func violations(of value: JSON, against schema: JSON, at path: String) -> [ContractViolation] {
        var violations: [ContractViolation] = []
        self.check(value, against: schema, at: path, into: &violations)
        return violations
    }

    private static func noBranchMatched(
        _ value: JSON,
        _ results: [[ContractViolation]],
        keyword: String,
        quantity: String,
        at path: String
    ) -> ContractViolation {
        let closest = results.indices.min { results[$0].count < results[$1].count } ?? 0
        let reasons = results[closest].prefix(3).map(\.description).joined(separator: "; ")
        return ContractViolation(
            path: path,
            keyword: keyword,
            message: "expected a value matching \(quantity) of the \(results.count) schemas in \(keyword), saw \(describe(value)) "
                + "(closest is schema \(closest): \(reasons))"
        )
    }

    // MARK: Helpers

    private func nonNegativeInteger(_ schema: JSONObject, _ keyword: String, at path: String, into violations: inout [ContractViolation]) -> Int? {
        guard let value = schema[keyword] else { return nil }
        guard let integer = value.intValue, integer >= 0 else {
            violations.append(Self.schemaError(path, "\(keyword) must be a non-negative integer"))
            return nil
        }
        return integer
    }

    private static func schemaError(_ path: String, _ message: String) -> ContractViolation {
        ContractViolation(path: path, keyword: "schema", message: "invalid schema: \(message)")
    }
}

/// `path.key`, or `path["key"]` when the key is not a plain identifier.
private func memberPath(_ path: String, _ key: String) -> String {
    let isIdentifier =
        key.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } == true
        && key.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    return isIdentifier ? "\(path).\(key)" : "\(path)[\(JSON.string(key).text)]"
}

/// A short rendering of a value for messages: its type and compact JSON, cut at 80 characters.
private func describe(_ value: JSON) -> String {
    let text = value.text
    let shown = text.count > 80 ? String(text.prefix(79)) + "…" : text
    switch value {
    case .null: return "null"
    case .bool, .number, .string: return shown
    case .array: return "array \(shown)"
    case .object: return "object \(shown)"
    }
}

/// JSON equality with numbers compared by value (`1.0` equals `1`) and objects by members, in any order.
private func jsonEquals(_ lhs: JSON, _ rhs: JSON) -> Bool {
    switch (lhs, rhs) {
    case (.number(let left), .number(let right)):
        guard let leftNumber = DecimalNumber(literal: left), let rightNumber = DecimalNumber(literal: right) else { return left == right }
        return leftNumber == rightNumber
    case (.array(let left), .array(let right)):
        return left.count == right.count && zip(left, right).allSatisfy { jsonEquals($0, $1) }
    case (.object(let left), .object(let right)):
        return left.count == right.count && left.allSatisfy { member in right[member.key].map { jsonEquals(member.value, $0) } ?? false }
    default:
        return lhs == rhs
    }
}
