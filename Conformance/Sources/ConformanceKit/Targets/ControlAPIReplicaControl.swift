import Foundation
import JSONKit

/// Replica control through the local cluster's control API (`bookstore cluster up`): `GET /replicas`,
/// `POST /replicas/{id}/kill|stop|start|pause|resume`, `POST /dependencies/{name}/stop|start`.
public struct ControlAPIReplicaControl: ReplicaControl {
    public let baseURL: String
    let driver: HTTPDriver

    public init(baseURL: String) {
        self.baseURL = baseURL
        self.driver = HTTPDriver(client: ConformanceHTTP.client, baseURL: baseURL, evidence: nil, timeout: .seconds(10))
    }

    public func replicas() async throws -> [ReplicaInfo] {
        let response = try await self.driver.get("/replicas")
        guard response.status == 200, let array = response.json?.arrayValue else {
            throw TargetError("control API GET /replicas answered \(response.status): \(response.excerpt)")
        }
        return array.compactMap { item in
            guard let id = item["id"]?.stringValue, let service = item["service"]?.stringValue else { return nil }
            return ReplicaInfo(
                id: id,
                service: service,
                serviceName: item["serviceName"]?.stringValue,
                status: item["status"]?.stringValue ?? "unknown",
                url: item["url"]?.stringValue,
                pid: item["pid"]?.intValue,
                restarts: item["restarts"]?.intValue
            )
        }
    }

    public func kill(_ id: String) async throws { try await self.action(id, "kill") }
    public func stop(_ id: String) async throws { try await self.action(id, "stop") }
    public func start(_ id: String) async throws { try await self.action(id, "start") }

    public func pause(_ id: String) async throws {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id
        let response = try await self.driver.post("/replicas/\(escaped)/pause")
        if response.status == 404 && response.json?["error"]?.stringValue?.hasPrefix("unknown replica") != true {
            throw CheckSkip("the control API cannot freeze a replica (POST /replicas/\(id)/pause answered 404)")
        }
        guard (200..<300).contains(response.status) else {
            throw TargetError("control API POST /replicas/\(id)/pause answered \(response.status): \(response.excerpt)")
        }
    }

    public func resume(_ id: String) async throws { try await self.action(id, "resume") }

    public func setDependency(_ name: String, running: Bool) async throws {
        let path = "/dependencies/\(name)/\(running ? "start" : "stop")"
        let response = try await self.driver.send("POST", path, timeout: .seconds(150))
        if response.status == 501 || response.status == 404 {
            throw CheckSkip("the control API cannot stop and start \(name) (POST \(path) answered \(response.status): \(response.excerpt))")
        }
        guard (200..<300).contains(response.status) else {
            throw TargetError("control API POST \(path) answered \(response.status): \(response.excerpt)")
        }
    }

    func action(_ id: String, _ verb: String) async throws {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id
        let response = try await self.driver.post("/replicas/\(escaped)/\(verb)")
        guard (200..<300).contains(response.status) else {
            throw TargetError("control API POST /replicas/\(id)/\(verb) answered \(response.status): \(response.excerpt)")
        }
    }
}

/// The local cluster's autoscaler stand-in, read through the control API's `GET /autoscalers` (the same
/// `autoscaling/v2` objects as `kubectl get hpa -o json`).
public struct ControlAPIAutoscalerProbe: AutoscalerProbe {
    let driver: HTTPDriver

    public init(baseURL: String) {
        self.driver = HTTPDriver(client: ConformanceHTTP.client, baseURL: baseURL, evidence: nil, timeout: .seconds(10))
    }

    /// The HorizontalPodAutoscaler objects the cluster runs (empty when it runs without its autoscaler).
    public func autoscalers() async throws -> [JSON] {
        let response = try await self.driver.get("/autoscalers")
        guard response.status == 200, let items = response.json?["items"]?.arrayValue else {
            throw TargetError("control API GET /autoscalers answered \(response.status): \(response.excerpt)")
        }
        return items
    }

    public func autoscaler(for service: String) async throws -> AutoscalerState {
        let deployment = KubernetesNames.deployment(for: service)
        guard let hpa = try await self.autoscalers().first(where: { $0["spec"]?["scaleTargetRef"]?["name"]?.stringValue == deployment }) else {
            throw CheckFailure(
                expected: "an autoscaler targeting \(deployment) in the local cluster",
                seen: "none (bookstore cluster up --autoscale)"
            )
        }
        return KubernetesAutoscalerProbe.state(from: hpa)
    }
}
