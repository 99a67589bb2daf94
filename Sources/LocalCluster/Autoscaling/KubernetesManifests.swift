import Foundation
import Yams

/// The HorizontalPodAutoscalers of a folder of Kubernetes manifests (`k8s/`), with the resource requests of the
/// Deployments they target: what the local autoscaler follows.
public struct KubernetesManifests: Sendable, Equatable {
    public var autoscalers: [HorizontalPodAutoscalerSpec]
    /// Per Deployment name: the requests of its first container.
    public var requests: [String: ResourceRequests]

    public init(autoscalers: [HorizontalPodAutoscalerSpec], requests: [String: ResourceRequests]) {
        self.autoscalers = autoscalers
        self.requests = requests
    }

    /// Reads every `*.yml`/`*.yaml` file of `directory` (not its subfolders).
    public static func load(directory: String) throws -> KubernetesManifests {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }
        var texts: [(String, String)] = []
        for name in names.sorted() {
            texts.append((name, try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)))
        }
        return try self.parse(texts)
    }

    /// Parses `(file name, YAML text)` pairs; each text may hold several documents.
    public static func parse(_ files: [(name: String, text: String)]) throws -> KubernetesManifests {
        var autoscalers: [HorizontalPodAutoscalerSpec] = []
        var requests: [String: ResourceRequests] = [:]
        for file in files {
            let documents: [Any?]
            do {
                documents = Array(try Yams.load_all(yaml: file.text))
            } catch {
                throw ManifestError("\(file.name): invalid YAML: \(error)")
            }
            for case let document as [String: Any] in documents {
                switch document["kind"] as? String {
                case "HorizontalPodAutoscaler":
                    autoscalers.append(try self.autoscaler(document, file: file.name))
                case "Deployment":
                    let name = (document["metadata"] as? [String: Any])?["name"] as? String ?? ""
                    requests[name] = try self.requests(of: document, file: file.name)
                default:
                    continue
                }
            }
        }
        return KubernetesManifests(autoscalers: autoscalers, requests: requests)
    }

    static func autoscaler(_ document: [String: Any], file: String) throws -> HorizontalPodAutoscalerSpec {
        let name = (document["metadata"] as? [String: Any])?["name"] as? String ?? "?"
        let context = "\(file): HorizontalPodAutoscaler \(name)"
        guard let spec = document["spec"] as? [String: Any] else { throw ManifestError("\(context) has no spec") }
        guard let target = (spec["scaleTargetRef"] as? [String: Any])?["name"] as? String else {
            throw ManifestError("\(context) has no spec.scaleTargetRef.name")
        }
        guard let maxReplicas = spec["maxReplicas"] as? Int, maxReplicas >= 1 else {
            throw ManifestError("\(context): spec.maxReplicas must be a positive integer")
        }
        let minReplicas = spec["minReplicas"] as? Int ?? 1
        guard (1...maxReplicas).contains(minReplicas) else {
            throw ManifestError("\(context): spec.minReplicas must be between 1 and maxReplicas")
        }
        var metrics: [HorizontalPodAutoscalerSpec.ResourceTarget] = []
        for case let metric as [String: Any] in spec["metrics"] as? [Any] ?? [] {
            guard metric["type"] as? String == "Resource", let resource = metric["resource"] as? [String: Any],
                let resourceName = resource["name"] as? String, let target = resource["target"] as? [String: Any]
            else {
                throw ManifestError("\(context): only Resource metrics are supported by the local stand-in")
            }
            guard target["type"] as? String == "Utilization", let utilization = target["averageUtilization"] as? Int, utilization > 0 else {
                throw ManifestError("\(context): the \(resourceName) metric needs target.type Utilization with a positive averageUtilization")
            }
            metrics.append(.init(resource: resourceName, averageUtilization: utilization))
        }
        if metrics.isEmpty { metrics = [.init(resource: "cpu", averageUtilization: 80)] }  // the Kubernetes default
        let behavior = spec["behavior"] as? [String: Any]
        return HorizontalPodAutoscalerSpec(
            name: name,
            targetName: target,
            minReplicas: minReplicas,
            maxReplicas: maxReplicas,
            metrics: metrics,
            scaleUp: try self.rules(behavior?["scaleUp"] as? [String: Any], defaults: .defaultScaleUp, context: context),
            scaleDown: try self.rules(behavior?["scaleDown"] as? [String: Any], defaults: .defaultScaleDown, context: context)
        )
    }

    /// One direction of `spec.behavior`; each field left out takes its Kubernetes default.
    static func rules(
        _ object: [String: Any]?,
        defaults: HorizontalPodAutoscalerSpec.Rules,
        context: String
    ) throws -> HorizontalPodAutoscalerSpec.Rules {
        guard let object else { return defaults }
        var rules = defaults
        if let window = object["stabilizationWindowSeconds"] {
            guard let seconds = window as? Int, (0...3600).contains(seconds) else {
                throw ManifestError("\(context): stabilizationWindowSeconds must be 0...3600")
            }
            rules.stabilizationWindowSeconds = seconds
        }
        if let select = object["selectPolicy"] {
            guard let text = select as? String, let policy = HorizontalPodAutoscalerSpec.SelectPolicy(rawValue: text) else {
                throw ManifestError("\(context): selectPolicy must be Max, Min or Disabled")
            }
            rules.selectPolicy = policy
        }
        if let list = object["policies"] as? [Any] {
            rules.policies = try list.map { entry in
                guard let policy = entry as? [String: Any],
                    let kind = (policy["type"] as? String).flatMap(HorizontalPodAutoscalerSpec.Policy.Kind.init),
                    let value = policy["value"] as? Int, value > 0, let period = policy["periodSeconds"] as? Int, (1...1800).contains(period)
                else {
                    throw ManifestError("\(context): a policy needs type Pods or Percent, a positive value and periodSeconds 1...1800")
                }
                return HorizontalPodAutoscalerSpec.Policy(kind, value: value, periodSeconds: period)
            }
        }
        return rules
    }

    static func requests(of deployment: [String: Any], file: String) throws -> ResourceRequests {
        let template = (deployment["spec"] as? [String: Any])?["template"] as? [String: Any]
        let containers = (template?["spec"] as? [String: Any])?["containers"] as? [Any]
        let requests = ((containers?.first as? [String: Any])?["resources"] as? [String: Any])?["requests"] as? [String: Any]
        return ResourceRequests(
            cpuCores: try (requests?["cpu"]).map { try Quantity.cores(from: "\($0)", file: file) },
            memoryBytes: try (requests?["memory"]).map { try Quantity.bytes(from: "\($0)", file: file) }
        )
    }
}

/// Kubernetes resource quantities: `250m`, `0.5` and `2` cores; `256Mi`, `1Gi`, `500M`, `1000` bytes.
enum Quantity {
    static func cores(from text: String, file: String) throws -> Double {
        if text.hasSuffix("m"), let millicores = Double(text.dropLast()) { return millicores / 1000 }
        if let cores = Double(text) { return cores }
        throw ManifestError("\(file): unreadable CPU quantity \(text)")
    }

    static func bytes(from text: String, file: String) throws -> Double {
        let units: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)) { return value * factor }
        }
        if let value = Double(text) { return value }
        throw ManifestError("\(file): unreadable memory quantity \(text)")
    }
}

public struct ManifestError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
