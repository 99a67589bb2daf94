import ContractKit
import Foundation
import JSONKit

/// An operation of a service document as reached through the gateway.
public struct GatewayOperation: Sendable {
    public var service: String
    public var method: String
    /// The document's template (`/api/payments/{payment_id}`).
    public var servicePath: String
    /// The gateway template (`/api/payments-python/{payment_id}`).
    public var gatewayTemplate: String
    public var requiresAuthentication: Bool
    public var takesJSONBody: Bool

    /// The gateway path with every `{parameter}` replaced by `value(parameter)`.
    public func gatewayPath(_ value: (String) -> String) -> String {
        var result = ""
        var rest = Substring(self.gatewayTemplate)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[rest.startIndex..<open]
            result += value(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    public var label: String { "\(self.method) \(self.gatewayTemplate)" }
}

extension ContractBook {
    /// Every operation of the service documents that the gateway routes to, in document order.
    public var gatewayOperations: [GatewayOperation] {
        var result: [GatewayOperation] = []
        for service in Self.serviceKeys where service != GatewayRouteMap.gateway {
            guard let document = self.documents[service] else { continue }
            for operation in document.operations {
                guard let template = self.routes.gatewayPath(service: service, path: operation.pathTemplate) else { continue }
                let content = document.resolve(operation.definition["requestBody"] ?? .null)["content"]
                result.append(
                    GatewayOperation(
                        service: service,
                        method: operation.method,
                        servicePath: operation.pathTemplate,
                        gatewayTemplate: template,
                        requiresAuthentication: operation.requiresAuthentication,
                        takesJSONBody: content?["application/json"] != nil
                    )
                )
            }
        }
        return result
    }

    /// The JSON request schema of an operation, references resolved one level: its properties and their types.
    public func requestProperties(service: String, method: String, path: String) -> [(name: String, type: String)] {
        guard let document = self.documents[service], let operation = document.operation(method: method, path: path) else { return [] }
        let body = document.resolve(operation.definition["requestBody"] ?? .null)
        guard let schema = body["content"]?["application/json"]?["schema"] else { return [] }
        let resolved = document.resolve(schema)
        return (resolved["properties"]?.objectValue ?? [:]).map { member in
            (member.key, Self.typeName(member.value, in: document))
        }
    }

    static func typeName(_ schema: JSON, in document: OpenAPIDocument) -> String {
        let resolved = document.resolve(schema)
        if let type = resolved["type"]?.stringValue { return type }
        for key in ["allOf", "oneOf", "anyOf"] {
            if let first = resolved[key]?.arrayValue?.first { return self.typeName(first, in: document) }
        }
        return "any"
    }
}
