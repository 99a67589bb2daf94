import Foundation
import JSONKit

extension OpenAPIDocument {
    /// Checks one request against the document: the operation exists; its path parameters, query parameters
    /// (declared, required, schema-valid; none undeclared) and JSON body (present when required, valid against the
    /// request body's schema; none when the operation takes no body) are what the document allows.
    ///
    /// - Parameters:
    ///   - method: the request's HTTP method.
    ///   - target: the request target: path and optional query string (`/api/reviews/book/b1?page=2`).
    ///   - body: the request body bytes, or nil when the request has none.
    ///   - headers: the request headers (any case), or nil to skip the header parameters.
    /// - Returns: every violation found; empty when the document allows the request.
    public func validateRequest(method: String, target: String, body: [UInt8]?, headers: [String: String]? = nil) -> [ContractViolation] {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts.first ?? "")
        guard let operation = self.operation(method: method, path: path) else { return [Self.noOperation(method, path)] }
        var violations: [ContractViolation] = []
        let query = parts.count > 1 ? Self.queryItems(String(parts[1])) : []
        let parameters = self.parameters(of: operation)
        for parameter in parameters {
            guard let name = parameter["name"]?.stringValue, let location = parameter["in"]?.stringValue else { continue }
            let schema = self.resolve(parameter["schema"] ?? .object([:]))
            let label = "\(location).\(name)"
            switch location {
            case "path":
                guard let value = operation.pathParameters[name] else { continue }
                violations += self.validate(self.textValue(value, for: schema), against: schema, at: label)
            case "query":
                let values = query.filter { $0.name == name }.map(\.value)
                if values.isEmpty {
                    if parameter["required"] == .bool(true) {
                        violations.append(ContractViolation(path: label, keyword: "required", message: "expected \(label), saw none"))
                    }
                } else {
                    for value in values {
                        violations += self.validate(self.textValue(value, for: schema), against: schema, at: label)
                    }
                }
            case "header":
                guard let headers else { continue }
                if let value = headers.first(where: { $0.key.lowercased() == name.lowercased() })?.value {
                    violations += self.validate(self.textValue(value, for: schema), against: schema, at: label)
                } else if parameter["required"] == .bool(true) {
                    violations.append(ContractViolation(path: label, keyword: "required", message: "expected header \(name), saw none"))
                }
            default:
                continue
            }
        }
        let declaredQuery = Set(parameters.filter { $0["in"] == "query" }.compactMap { $0["name"]?.stringValue })
        for item in query where !declaredQuery.contains(item.name) {
            violations.append(
                ContractViolation(
                    path: "query.\(item.name)",
                    keyword: "parameters",
                    message: "expected only documented query parameters, saw \(item.name)"
                )
            )
        }
        violations += self.validateRequestBody(body, of: operation)
        return violations
    }

    /// The rule a test applies to every request it sends, so a document that is too strict or too loose fails it:
    /// a request the service accepted (2xx) must be one the document allows, and a request it refused as invalid
    /// (400) must be one the document forbids. Other statuses (401, 403, 404, 409, 413…) are about state or
    /// credentials, not shape, and are not judged.
    /// - Returns: a description of the disagreement, or nil.
    public func requestDisagreement(
        method: String,
        target: String,
        body: [UInt8]?,
        headers: [String: String]? = nil,
        status: Int
    ) -> String? {
        let isAccepted = (200..<300).contains(status)
        guard isAccepted || status == 400 else { return nil }
        let violations = self.validateRequest(method: method, target: target, body: body, headers: headers)
        if isAccepted, !violations.isEmpty {
            return "the service accepted (\(status)) \(method) \(target), which the document forbids (too strict):\n\(violations.report)"
        }
        if !isAccepted, violations.isEmpty {
            return "the service refused (400) \(method) \(target), which the document allows (too loose)"
        }
        return nil
    }

    /// The operation's parameters with the path item's, references followed (the operation's win by name and place).
    private func parameters(of operation: OpenAPIOperation) -> [JSON] {
        let own = (operation.definition["parameters"]?.arrayValue ?? []).map(self.resolve)
        let item = self.paths.first { $0.template == operation.pathTemplate }.map { self.resolve($0.item) }
        let shared = (item?["parameters"]?.arrayValue ?? []).map(self.resolve)
        let key = { (parameter: JSON) in "\(parameter["in"]?.stringValue ?? "")/\(parameter["name"]?.stringValue ?? "")" }
        let ownKeys = Set(own.map(key))
        return own + shared.filter { !ownKeys.contains(key($0)) }
    }

    private func validateRequestBody(_ body: [UInt8]?, of operation: OpenAPIOperation) -> [ContractViolation] {
        guard let requestBody = operation.definition["requestBody"].map(self.resolve) else {
            guard let body, !body.isEmpty else { return [] }
            return [ContractViolation(path: "body", keyword: "requestBody", message: "expected no body, saw \(body.count) bytes")]
        }
        guard let body, !body.isEmpty else {
            guard requestBody["required"] == .bool(true) else { return [] }
            return [ContractViolation(path: "body", keyword: "required", message: "expected a request body, saw none")]
        }
        guard let schema = requestBody["content"]?["application/json"]?["schema"] else { return [] }
        guard let value = try? JSON.parse(body) else {
            return [ContractViolation(path: "body", keyword: "type", message: "expected a JSON body, saw \(body.count) bytes that do not parse")]
        }
        return self.validate(value, against: self.resolve(schema)).map {
            ContractViolation(
                path: "body" + ($0.path.hasPrefix("$") ? String($0.path.dropFirst()) : "." + $0.path),
                keyword: $0.keyword,
                message: $0.message
            )
        }
    }

    private func validate(_ value: JSON, against schema: JSON, at label: String) -> [ContractViolation] {
        self.validate(value, against: schema).map {
            ContractViolation(path: label + ($0.path.hasPrefix("$") ? String($0.path.dropFirst()) : ""), keyword: $0.keyword, message: $0.message)
        }
    }

    /// `a=1&b=x%20y` as (name, value) pairs, percent-decoded (`+` as a space).
    static func queryItems(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
