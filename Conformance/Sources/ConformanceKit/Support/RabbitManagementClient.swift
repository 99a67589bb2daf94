import Foundation
import JSONKit

/// A message fetched through the management API.
public struct ManagementMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var payload: String
    public var payloadEncoding: String
    public var properties: JSON
    public var redelivered: Bool

    public var messageID: String? { self.properties["message_id"]?.stringValue }
    public var correlationID: String? { self.properties["correlation_id"]?.stringValue }
    public var replyTo: String? { self.properties["reply_to"]?.stringValue }
    public var contentType: String? { self.properties["content_type"]?.stringValue }
    public var deliveryMode: Int? { self.properties["delivery_mode"]?.intValue }
    public var timestamp: Int? { self.properties["timestamp"]?.intValue }

    /// An application header (case-insensitive name), as text.
    public func header(_ name: String) -> String? {
        guard let headers = self.properties["headers"]?.objectValue else { return nil }
        let lowered = name.lowercased()
        guard let value = headers.first(where: { $0.key.lowercased() == lowered })?.value else { return nil }
        return value.stringValue ?? value.text
    }

    /// The payload parsed as JSON (base64 payloads decoded first).
    public var json: JSON? {
        if self.payloadEncoding == "base64" {
            guard let data = Data(base64Encoded: self.payload) else { return nil }
            return try? JSON.parse(Array(data))
        }
        return try? JSON.parse(self.payload)
    }

    init?(_ json: JSON) {
        guard let payload = json["payload"]?.stringValue else { return nil }
        self.exchange = json["exchange"]?.stringValue ?? ""
        self.routingKey = json["routing_key"]?.stringValue ?? ""
        self.payload = payload
        self.payloadEncoding = json["payload_encoding"]?.stringValue ?? "string"
        self.properties = json["properties"] ?? [:]
        self.redelivered = json["redelivered"]?.boolValue ?? false
    }
}

/// The RabbitMQ management HTTP API: temporary queues and bindings, publishing, and fetching messages.
public struct RabbitManagementClient: Sendable {
    public let endpoint: RabbitManagementEndpoint
    let driver: HTTPDriver

    public init(endpoint: RabbitManagementEndpoint, driver: HTTPDriver) {
        self.endpoint = endpoint
        self.driver = driver.at(endpoint.url)
    }

    var vhost: String { Self.encode(self.endpoint.vhost) }
    var auth: [(String, String)] { [HTTPDriver.basicAuthorization(user: self.endpoint.user, password: self.endpoint.password)] }

    static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? segment
    }

    func call(_ method: String, _ path: String, _ body: JSON? = nil, expecting statuses: Set<Int>, record: Bool = true) async throws -> HTTPResponse {
        let headers = self.auth + (body == nil ? [] : [("Content-Type", "application/json")])
        let response = try await self.driver.send(method, path, headers: headers, body: body?.bytes, record: record)
        guard statuses.contains(response.status) else {
            throw CheckFailure(expected: "the management API to accept \(method) \(path)", seen: "\(response.status) \(response.excerpt)")
        }
        return response
    }

    /// Checks that the API answers with these credentials.
    public func overview() async throws {
        _ = try await self.call("GET", "/api/overview", expecting: [200], record: false)
    }

    /// Declares a non-durable queue that the broker deletes after `expires` without use.
    public func declareTemporaryQueue(_ name: String, expires: Duration = .seconds(600)) async throws {
        let body: JSON = [
            "durable": false, "auto_delete": false,
            "arguments": ["x-expires": .int(Int(expires.asSeconds * 1000))],
        ]
        _ = try await self.call("PUT", "/api/queues/\(self.vhost)/\(Self.encode(name))", body, expecting: [201, 204])
    }

    public func bind(queue: String, exchange: String, routingKey: String) async throws {
        let body: JSON = ["routing_key": .string(routingKey), "arguments": [:]]
        _ = try await self.call(
            "POST",
            "/api/bindings/\(self.vhost)/e/\(Self.encode(exchange))/q/\(Self.encode(queue))",
            body,
            expecting: [201, 204]
        )
    }

    public func deleteQueue(_ name: String) async throws {
        _ = try await self.call("DELETE", "/api/queues/\(self.vhost)/\(Self.encode(name))", expecting: [204, 404])
    }

    /// The number of messages in a queue, or nil when it does not exist.
    public func messageCount(_ queue: String) async throws -> Int? {
        let response = try await self.call("GET", "/api/queues/\(self.vhost)/\(Self.encode(queue))", expecting: [200, 404], record: false)
        guard response.status == 200 else { return nil }
        return response.json?["messages"]?.intValue ?? 0
    }

    /// Fetches up to `count` messages; with `requeue` they stay in the queue (a peek).
    public func get(_ queue: String, count: Int = 100, requeue: Bool = false, record: Bool = false) async throws -> [ManagementMessage] {
        let body: JSON = [
            "count": .int(count), "ackmode": .string(requeue ? "ack_requeue_true" : "ack_requeue_false"), "encoding": "auto",
            "truncate": 200_000,
        ]
        let response = try await self.call("POST", "/api/queues/\(self.vhost)/\(Self.encode(queue))/get", body, expecting: [200], record: record)
        return (response.json?.arrayValue ?? []).compactMap(ManagementMessage.init)
    }

    /// The names of the client connections open on the virtual host.
    public func connections() async throws -> [String] {
        let response = try await self.call("GET", "/api/vhosts/\(self.vhost)/connections", expecting: [200], record: false)
        return (response.json?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    /// Makes the broker close a client connection (as a broker restart or a network cut would); gone already is fine.
    public func closeConnection(_ name: String, reason: String) async throws {
        let headers = self.auth + [("X-Reason", reason)]
        let response = try await self.driver.send("DELETE", "/api/connections/\(Self.encode(name))", headers: headers, body: nil, record: true)
        guard [204, 404].contains(response.status) else {
            throw CheckFailure(expected: "the management API to close connection \(name)", seen: "\(response.status) \(response.excerpt)")
        }
    }

    /// Publishes a message; returns whether the broker routed it to some queue.
    @discardableResult
    public func publish(
        exchange: String,
        routingKey: String,
        payload: String,
        properties: JSONObject = [:],
        record: Bool = true
    ) async throws -> Bool {
        let name = exchange.isEmpty ? "amq.default" : exchange
        let body: JSON = [
            "properties": .object(properties), "routing_key": .string(routingKey), "payload": .string(payload),
            "payload_encoding": "string",
        ]
        let response = try await self.call(
            "POST",
            "/api/exchanges/\(self.vhost)/\(Self.encode(name))/publish",
            body,
            expecting: [200],
            record: record
        )
        return response.json?["routed"]?.boolValue ?? false
    }
}
