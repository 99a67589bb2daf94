import Foundation
import JSONKit

/// An alert as Prometheus (`/api/v1/alerts`) or Alertmanager (`/api/v2/alerts`) reports it.
public struct ObservedAlert: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    /// Prometheus: `pending` or `firing`; Alertmanager: `active`, `suppressed` or `unprocessed`.
    public var state: String

    public var severity: String? { self.labels["severity"] }

    public var summary: String {
        let labels = self.labels.filter { $0.key != "alertname" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return "\(self.name){\(labels.joined(separator: ","))} \(self.state)"
    }
}

/// The Prometheus HTTP API: alerts, rules and the configuration the alert budgets derive from.
public struct PrometheusClient: Sendable {
    let driver: HTTPDriver

    public init(url: String, driver: HTTPDriver) {
        self.driver = driver.at(url)
    }

    public func alerts(record: Bool = false) async throws -> [ObservedAlert] {
        let response = try await self.driver.get("/api/v1/alerts", record: record)
        guard response.status == 200, let alerts = response.json?["data"]?["alerts"]?.arrayValue else {
            throw CheckFailure(
                expected: "Prometheus GET /api/v1/alerts to answer 200 with data.alerts",
                seen: "\(response.status) \(response.excerpt)"
            )
        }
        return alerts.compactMap { alert in
            let labels = Self.labels(alert["labels"])
            guard let name = labels["alertname"] else { return nil }
            return ObservedAlert(name: name, labels: labels, state: alert["state"]?.stringValue ?? "")
        }
    }

    /// The `for` duration of an alerting rule, in seconds, or nil when no such rule is loaded.
    public func ruleDuration(_ alert: String) async throws -> Double? {
        try await self.rule(alert)?.duration
    }

    /// An alerting rule's `for` duration (seconds) and expression, or nil when no such rule is loaded.
    public func rule(_ alert: String) async throws -> (duration: Double, query: String)? {
        let response = try await self.driver.get("/api/v1/rules?type=alert")
        guard response.status == 200, let groups = response.json?["data"]?["groups"]?.arrayValue else {
            throw CheckFailure(expected: "Prometheus GET /api/v1/rules to answer 200", seen: "\(response.status) \(response.excerpt)")
        }
        for group in groups {
            for rule in group["rules"]?.arrayValue ?? [] where rule["name"]?.stringValue == alert {
                return (rule["duration"]?.doubleValue ?? 0, rule["query"]?.stringValue ?? "")
            }
        }
        return nil
    }

    /// The values of an instant query's vector result.
    public func query(_ expression: String) async throws -> [Double] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let response = try await self.driver.get("/api/v1/query?query=\(encoded)")
        guard response.status == 200, let result = response.json?["data"]?["result"]?.arrayValue else {
            throw CheckFailure(expected: "Prometheus GET /api/v1/query to answer 200", seen: "\(response.status) \(response.excerpt)")
        }
        return result.compactMap { $0["value"]?[1]?.stringValue.flatMap(Double.init) }
    }

    /// An instant query's series: labels and value.
    public func series(_ expression: String) async throws -> [(labels: [String: String], value: Double)] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let response = try await self.driver.get("/api/v1/query?query=\(encoded)")
        guard response.status == 200, let result = response.json?["data"]?["result"]?.arrayValue else {
            throw CheckFailure(expected: "Prometheus GET /api/v1/query to answer 200", seen: "\(response.status) \(response.excerpt)")
        }
        return result.compactMap { item in
            guard let value = item["value"]?[1]?.stringValue.flatMap(Double.init) else { return nil }
            return (Self.labels(item["metric"]), value)
        }
    }

    /// The first range selector's window in an expression (`rate(x[5m])` → 300), in seconds.
    static func rangeWindow(in expression: String) -> Double? {
        guard let open = expression.firstIndex(of: "["), let close = expression[open...].firstIndex(of: "]") else { return nil }
        return self.parseDuration(String(expression[expression.index(after: open)..<close]))
    }

    /// The global scrape and evaluation intervals, in seconds (Prometheus defaults: 60 s each).
    public func intervals() async throws -> (scrape: Double, evaluation: Double) {
        let response = try await self.driver.get("/api/v1/status/config")
        guard response.status == 200, let yaml = response.json?["data"]?["yaml"]?.stringValue else {
            throw CheckFailure(expected: "Prometheus GET /api/v1/status/config to answer 200", seen: "\(response.status) \(response.excerpt)")
        }
        return (Self.globalDuration("scrape_interval", in: yaml) ?? 60, Self.globalDuration("evaluation_interval", in: yaml) ?? 60)
    }

    /// A duration under `global:` of a Prometheus configuration (`15s`, `1m`, `1m30s`).
    static func globalDuration(_ key: String, in yaml: String) -> Double? {
        var inGlobal = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inGlobal = line.hasPrefix("global:") }
            guard inGlobal else { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(key + ":") {
                return self.parseDuration(trimmed.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    /// Prometheus duration syntax: `1h30m`, `15s`, `500ms`.
    static func parseDuration(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800), ("y", 31_536_000)]
        var total = 0.0
        var rest = Substring(text.trimmingCharacters(in: CharacterSet(charactersIn: "\"' ")))
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber }
            guard let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return total
    }

    static func labels(_ json: JSON?) -> [String: String] {
        var labels: [String: String] = [:]
        for (key, value) in json?.objectValue ?? [:] { labels[key] = value.stringValue ?? value.text }
        return labels
    }
}

/// The Alertmanager v2 API.
public struct AlertmanagerClient: Sendable {
    let driver: HTTPDriver

    public init(url: String, driver: HTTPDriver) {
        self.driver = driver.at(url)
    }

    /// Active alerts (not yet resolved).
    public func alerts(record: Bool = false) async throws -> [ObservedAlert] {
        let response = try await self.driver.get("/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true", record: record)
        guard response.status == 200, let alerts = response.json?.arrayValue else {
            throw CheckFailure(
                expected: "Alertmanager GET /api/v2/alerts to answer 200 with an array",
                seen: "\(response.status) \(response.excerpt)"
            )
        }
        return alerts.compactMap { alert in
            let labels = PrometheusClient.labels(alert["labels"])
            guard let name = labels["alertname"] else { return nil }
            if let endsAt = alert["endsAt"]?.stringValue, let end = ISO8601DateFormatter.lenient(endsAt), end < Date() { return nil }
            return ObservedAlert(name: name, labels: labels, state: alert["status"]?["state"]?.stringValue ?? "active")
        }
    }

    /// `route.group_wait` of the loaded configuration in seconds (30 s when not set).
    public func groupWait() async throws -> Double {
        let response = try await self.driver.get("/api/v2/status")
        guard response.status == 200, let original = response.json?["config"]?["original"]?.stringValue else { return 30 }
        for line in original.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("group_wait:") {
                return PrometheusClient.parseDuration(String(trimmed.dropFirst("group_wait:".count))) ?? 30
            }
        }
        return 30
    }
}

extension ISO8601DateFormatter {
    /// Parses RFC 3339 with or without fractional seconds.
    static func lenient(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
