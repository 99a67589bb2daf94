import ContractKit
import Foundation
import JSONKit

/// The committed OpenAPI documents, one per service, and response validation through the gateway.
public struct ContractBook: Sendable {
    /// The document keys and files: `<key>.openapi.yaml`.
    public static let serviceKeys = ["users", "payments-python", "payments-java", "reviews", GatewayRouteMap.gateway]
    /// Statuses the gateway may produce itself on a routed path, with its own `GatewayError` envelope.
    public static let gatewayStatuses: Set<Int> = [401, 404, 413, 429, 502, 503, 504]

    public let documents: [String: OpenAPIDocument]
    public let routes: GatewayRouteMap
    /// Where the documents were read from.
    public let directory: String

    public init(documents: [String: OpenAPIDocument], routes: GatewayRouteMap = .standard, directory: String = "") {
        self.documents = documents
        self.routes = routes
        self.directory = directory
    }

    /// Loads every `<key>.openapi.yaml` of ``serviceKeys`` from `directory`.
    public init(directory: String, routes: GatewayRouteMap = .standard) throws {
        var documents: [String: OpenAPIDocument] = [:]
        for key in Self.serviceKeys {
            documents[key] = try OpenAPIDocument(contentsOf: directory + "/\(key).openapi.yaml")
        }
        self.init(documents: documents, routes: routes, directory: directory)
    }

    /// The first directory holding the documents among the usual places: `Conformance/contracts` under the current
    /// directory or one of its parents, then next to (or above) the executable.
    public static func locateDirectory(executablePath: String = CommandLine.arguments.first ?? "") -> String? {
        var candidates: [String] = []
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<6 {
            candidates.append(directory.appendingPathComponent("Conformance/contracts").path)
            directory.deleteLastPathComponent()
        }
        var executable = URL(fileURLWithPath: executablePath).standardizedFileURL.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(executable.appendingPathComponent("Conformance/contracts").path)
            executable.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/users.openapi.yaml") }
    }

    /// The violations of a response seen through the gateway, against the upstream's document (or the gateway's own
    /// for `/actuator` and `/metrics`). A gateway-produced error (``gatewayStatuses``) is accepted when it matches
    /// the gateway's `GatewayError` envelope instead.
    public func violations(of response: HTTPResponse) -> [String] {
        guard let (service, path) = self.routes.resolve(response.path) else {
            return self.gatewayErrorViolations(response).map { ["no gateway route for \(response.path); " + $0.joined(separator: "; ")] } ?? []
        }
        guard let document = self.documents[service] else { return ["no OpenAPI document for \(service)"] }
        let violations = document.validateResponse(
            method: response.method,
            path: path,
            status: response.status,
            contentType: response.contentType,
            body: response.body,
            headers: response.headerDictionary
        )
        guard !violations.isEmpty else { return [] }
        if Self.gatewayStatuses.contains(response.status), service != GatewayRouteMap.gateway, self.gatewayErrorViolations(response) == nil {
            return []
        }
        return violations.map { "\(service).openapi.yaml \(response.method) \(path): \($0.description)" }
    }

    /// Nil when the response is a well-formed gateway error, else why not.
    func gatewayErrorViolations(_ response: HTTPResponse) -> [String]? {
        guard let gateway = self.documents[GatewayRouteMap.gateway] else { return ["no gateway document"] }
        guard let json = response.json else { return ["the body is not JSON"] }
        let violations = gateway.validate(json, against: ["$ref": "#/components/schemas/GatewayError"])
        return violations.isEmpty ? nil : violations.map(\.description)
    }
}
