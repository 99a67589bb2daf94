import Foundation
import JSONKit

/// What a running check works with: the target, an HTTP driver to the gateway that records evidence, the run's
/// shared state, and assertion helpers that fail with "expected …, seen …".
public final class CheckContext: Sendable {
    public let checkID: String
    public let target: any Target
    public let endpoints: TargetEndpoints
    public let evidence: Evidence
    public let run: RunState
    /// Requests to the gateway (relative paths) or to any absolute URL.
    public let http: HTTPDriver

    public init(checkID: String, target: any Target, run: RunState, evidence: Evidence = Evidence()) {
        self.checkID = checkID
        self.target = target
        self.endpoints = target.endpoints
        self.evidence = evidence
        self.run = run
        self.http = HTTPDriver(client: ConformanceHTTP.client, baseURL: target.endpoints.baseURL ?? "http://127.0.0.1:8080", evidence: evidence)
    }

    public var options: RunOptions { self.run.options }

    /// Adds a line of explanation to the evidence.
    public func note(_ text: String) {
        self.evidence.add(.note(text))
    }

    /// Adds a measured value to the evidence.
    public func measure(_ name: String, _ value: String) {
        self.evidence.add(.measurement(name: name, value: value))
    }

    // MARK: Assertions

    /// Fails with `expected …, seen …` unless `condition` holds.
    public func require(_ condition: Bool, expected: @autoclosure () -> String, seen: @autoclosure () -> String) throws {
        if !condition { throw CheckFailure(expected: expected(), seen: seen()) }
    }

    /// Fails unless the response has one of `statuses`.
    public func expectStatus(_ response: HTTPResponse, _ statuses: Int..., because reason: String? = nil) throws {
        try self.expectStatus(response, in: statuses, because: reason)
    }

    public func expectStatus(_ response: HTTPResponse, in statuses: [Int], because reason: String? = nil) throws {
        guard statuses.contains(response.status) else {
            let wanted = statuses.map(String.init).joined(separator: " or ")
            throw CheckFailure(
                expected: "\(response.method) \(response.path) to answer \(wanted)\(reason.map { " (\($0))" } ?? "")",
                seen: "\(response.status) \(response.excerpt)"
            )
        }
    }

    /// Fails unless the response has `status` and conforms to the OpenAPI documents (when loaded). The gateway's own
    /// headers (`X-Gateway-Service`, `X-Request-ID`) are the gateway checks' business (`API-GATEWAY-*`), so a proxy
    /// that drops them turns those checks red, not every contract check.
    public func expectContract(_ response: HTTPResponse, status: Int, because reason: String? = nil) throws {
        try self.expectStatus(response, in: [status], because: reason)
        try self.expectConforms(response)
    }

    /// Fails unless the response conforms to the OpenAPI documents.
    public func expectConforms(_ response: HTTPResponse) throws {
        if let contracts = self.endpoints.contracts {
            let violations = contracts.violations(of: response)
            if !violations.isEmpty {
                throw CheckFailure(
                    expected: "\(response.label) to match the OpenAPI contract",
                    seen: violations.prefix(5).joined(separator: "; ") + (violations.count > 5 ? " (+\(violations.count - 5) more)" : "")
                )
            }
        }
    }

    /// The response's JSON body, or a failure.
    public func json(_ response: HTTPResponse) throws -> JSON {
        guard let json = response.json else {
            throw CheckFailure(expected: "a JSON body from \(response.label)", seen: response.excerpt.isEmpty ? "an empty body" : response.excerpt)
        }
        return json
    }

    /// A string member at a path of keys, or a failure naming it.
    public func string(_ json: JSON, _ keys: String..., in response: HTTPResponse) throws -> String {
        var value: JSON? = json
        for key in keys { value = value?[key] }
        guard let text = value?.stringValue else {
            throw CheckFailure(
                expected: "a string at $.\(keys.joined(separator: ".")) of \(response.label)",
                seen: value.map { $0.text } ?? "nothing"
            )
        }
        return text
    }
}
