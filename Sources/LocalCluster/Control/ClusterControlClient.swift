import AsyncHTTPClient
import JSONKit
import NIOCore
import NIOHTTP1

/// A client of a running cluster's control API (``LocalClusterService``): `bookstore cluster status`, `replica`,
/// `scale` and `hpa`.
public struct ClusterControlClient: Sendable {
    /// The control API's base URL, e.g. `http://127.0.0.1:7070`.
    public let base: String

    public init(base: String) {
        self.base = base
    }

    /// `GET /replicas`: every replica.
    public func replicas() async throws -> JSON {
        try await self.call(.GET, "/replicas")
    }

    /// `POST /replicas/{id}/{action}`: `kill`, `stop` or `start` one replica.
    public func replica(_ id: String, _ action: String) async throws -> JSON {
        try await self.call(.POST, "/replicas/\(id)/\(action)")
    }

    /// `POST /services/{service}/scale?replicas=N`.
    public func scale(_ service: String, replicas: Int) async throws -> JSON {
        try await self.call(.POST, "/services/\(service)/scale?replicas=\(replicas)")
    }

    /// `GET /autoscalers`: the HorizontalPodAutoscalers, as `kubectl get hpa -o json` lists them.
    public func autoscalers() async throws -> JSON {
        try await self.call(.GET, "/autoscalers")
    }

    /// Sends one request and returns its JSON body (null when the body is not JSON).
    /// - Throws: ``ClusterControlError`` when the API answers 300 or more; the client's errors when it cannot be reached.
    public func call(_ method: HTTPMethod, _ path: String) async throws -> JSON {
        try await HTTPClient.withHTTPClient { client in
            let response = try await client.execute(self.request(method, path), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            return try Self.result(status: response.status.code, body: Array(buffer: body))
        }
    }

    /// The request for `method path`.
    func request(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        return request
    }

    /// The JSON of a response, or its `error` message (else `HTTP <status>`) as a ``ClusterControlError`` unless the
    /// status is below 300.
    static func result(status: UInt, body: [UInt8]) throws(ClusterControlError) -> JSON {
        let json = (try? JSON.parse(body)) ?? .null
        guard status < 300 else { throw ClusterControlError(json["error"]?.stringValue ?? "HTTP \(status)") }
        return json
    }
}

/// The control API refused a request: its `error` message, or `HTTP <status>`.
public struct ClusterControlError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
