import Foundation
import JSONKit

extension OpenAPIDocument {
    /// Checks one response against the document.
    ///
    /// - The operation exists (`operation(method:path:)`).
    /// - The status is documented: the exact code, else its range (`4XX`), else `default`.
    /// - The content type (parameters such as `charset` ignored) is one the response documents; a response
    ///   documented without content must have an empty body.
    /// - A JSON body parses and validates against the media type's schema.
    /// - When `headers` are given, the response headers marked `required` are present and match their schemas.
    ///
    /// - Parameters:
    ///   - method: the request's HTTP method.
    ///   - path: the request's path (a query string or full URL is tolerated).
    ///   - status: the response status code.
    ///   - contentType: the response's `Content-Type` header, if any.
    ///   - body: the response body bytes.
    ///   - headers: the response headers (any case), or nil to skip header checks.
    /// - Returns: every violation found; empty when the response conforms.
    public func validateResponse(
        method: String,
        path: String,
        status: Int,
        contentType: String?,
        body: some Collection<UInt8>,
        headers: [String: String]? = nil
    ) -> [ContractViolation] {
        guard let operation = self.operation(method: method, path: path) else { return [Self.noOperation(method, path)] }
        let label = "\(operation.method) \(operation.pathTemplate)"
        guard let response = self.response(for: status, in: operation) else {
            let documented = operation.documentedStatuses.joined(separator: ", ")
            return [
                ContractViolation(
                    path: "status",
                    keyword: "status",
                    message: "expected one of the statuses documented for \(label) (\(documented)), saw \(status)"
                )
            ]
        }
        var violations: [ContractViolation] = []
        if let headers {
            violations += self.validateHeaders(headers, against: response, label: label, status: status)
        }
        // A HEAD response never carries a body, whatever the document says about its content.
        if operation.method != "HEAD" {
            violations += self.validateBody(body, contentType: contentType, against: response, label: label, status: status)
        }
        return violations
    }

    /// The violation for a request no operation of the document matches.
    static func noOperation(_ method: String, _ path: String) -> ContractViolation {
        ContractViolation(
            path: "operation",
            keyword: "operation",
            message: "expected an operation \(method.uppercased()) \(path) in the document, saw none"
        )
    }

    /// The response object `operation` documents for `status` (references followed): the exact code, else its
    /// range (`4XX`), else `default`; nil when none applies.
    public func response(for status: Int, in operation: OpenAPIOperation) -> JSON? {
        guard case .object(let responses)? = operation.definition["responses"] else { return nil }
        let exact = String(status)
        let range = "\(status / 100)XX"
        for candidate in [exact, range] {
            if let match = responses.first(where: { $0.key.uppercased() == candidate }) { return self.resolve(match.value) }
        }
        return responses["default"].map(self.resolve)
    }

    private func validateHeaders(_ headers: [String: String], against response: JSON, label: String, status: Int) -> [ContractViolation] {
        guard case .object(let documented)? = response["headers"] else { return [] }
        var received: [String: String] = [:]
        for (name, value) in headers { received[name.lowercased()] = value }
        var violations: [ContractViolation] = []
        for (name, rawHeader) in documented where name.lowercased() != "content-type" {
            let header = self.resolve(rawHeader)
            let path = "headers.\(name.lowercased())"
            guard let value = received[name.lowercased()] else {
                if header["required"]?.boolValue == true {
                    violations.append(
                        ContractViolation(
                            path: path,
                            keyword: "header",
                            message: "expected header \(name) on \(status) from \(label), saw none"
                        )
                    )
                }
                continue
            }
            guard let schema = header["schema"] else { continue }
            violations += SchemaValidator(root: self.root).validate(
                self.textValue(value, for: schema, trimmingSpaces: true),
                against: schema,
                at: path
            )
        }
        return violations
    }

    /// A header's or parameter's text as the JSON its schema expects: a number for numeric schemas (when it is one),
    /// a boolean for booleans, else the text. Header values are compared with surrounding spaces trimmed.
    func textValue(_ text: String, for schema: JSON, trimmingSpaces: Bool = false) -> JSON {
        let trimmed = trimmingSpaces ? text.trimmingCharacters(in: .whitespaces) : text
        switch self.resolve(schema)["type"]?.stringValue {
        case "integer", "number":
            return DecimalNumber(literal: trimmed) != nil ? .number(trimmed) : .string(text)
        case "boolean":
            return trimmed == "true" ? .bool(true) : trimmed == "false" ? .bool(false) : .string(text)
        default:
            return .string(text)
        }
    }

    private func validateBody(
        _ body: some Collection<UInt8>,
        contentType: String?,
        against response: JSON,
        label: String,
        status: Int
    ) -> [ContractViolation] {
        guard case .object(let content)? = response["content"], content.count > 0 else {
            guard body.isEmpty else {
                return [
                    ContractViolation(
                        path: "$",
                        keyword: "content",
                        message: "expected no body on \(status) from \(label), saw \(body.count) bytes"
                    )
                ]
            }
            return []
        }
        let documentedTypes = content.keys.joined(separator: ", ")
        guard let contentType, let mediaType = MediaType(contentType) else {
            return [
                ContractViolation(
                    path: "content-type",
                    keyword: "contentType",
                    message: "expected a Content-Type of \(documentedTypes) on \(status) from \(label), saw none"
                )
            ]
        }
        guard let (_, mediaObject) = mediaType.bestMatch(in: content) else {
            return [
                ContractViolation(
                    path: "content-type",
                    keyword: "contentType",
                    message: "expected a Content-Type of \(documentedTypes) on \(status) from \(label), saw \(contentType)"
                )
            ]
        }
        guard mediaType.isJSON else { return [] }
        guard !body.isEmpty else {
            return [
                ContractViolation(
                    path: "$",
                    keyword: "json",
                    message: "expected a JSON body on \(status) from \(label), saw an empty body"
                )
            ]
        }
        let value: JSON
        do {
            value = try JSON.parse(body)
        } catch {
            return [
                ContractViolation(path: "$", keyword: "json", message: "expected a JSON body on \(status) from \(label), saw invalid JSON (\(error))")
            ]
        }
        guard let schema = self.resolve(mediaObject)["schema"] else { return [] }
        return SchemaValidator(root: self.root).validate(value, against: schema)
    }
}

/// A media type (`type/subtype`), lower-cased and without parameters.
struct MediaType: Sendable, Hashable {
    let type: String
    let subtype: String

    init?(_ text: String) {
        let essence = text.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let parts = essence.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.type = String(parts[0])
        self.subtype = String(parts[1])
    }

    /// `application/json`, or a structured `+json` type such as `application/problem+json`.
    var isJSON: Bool { self.type == "application" && (self.subtype == "json" || self.subtype.hasSuffix("+json")) }

    /// The documented media type that covers this one: exact first, then `type/*`, then `*/*`.
    func bestMatch(in content: JSONObject) -> (key: String, value: JSON)? {
        var wildcardSubtype: (key: String, value: JSON)?
        var wildcardAll: (key: String, value: JSON)?
        for member in content {
            guard let documented = MediaType(member.key) else { continue }
            if documented == self { return member }
            if documented.type == self.type, documented.subtype == "*" { wildcardSubtype = wildcardSubtype ?? member }
            if documented.type == "*", documented.subtype == "*" { wildcardAll = wildcardAll ?? member }
        }
        return wildcardSubtype ?? wildcardAll
    }
}
