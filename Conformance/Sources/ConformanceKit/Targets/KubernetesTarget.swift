import Foundation
import JSONKit
import Synchronization

/// A live Kubernetes cluster, driven through `kubectl` (`--context`, `--namespace`): Deployments, HPAs and Pods
/// read as JSON, pods deleted, and `kubectl port-forward` to 127.0.0.1 for every interface not given as a URL.
public final class KubernetesTarget: Target {
    public struct Configuration: Sendable {
        public var kubectl: String
        public var context: String?
        public var namespace: String
        public var baseURL: String?
        public var prometheusURL: String?
        public var alertmanagerURL: String?
        public var rabbitManagement: RabbitManagementEndpoint?
        /// Credentials for a port-forwarded management API (when no URL is given).
        public var rabbitCredentials: (user: String, password: String)?
        public var contracts: ContractBook?
        public var signingKey: SigningKey?
        public var admin: AdminCredentials
        /// Service names: gateway `gateway-service`, Prometheus `prometheus-service`, and so on.
        public var gatewayService: String
        public var prometheusService: String
        public var alertmanagerService: String
        public var rabbitService: String

        public init(
            kubectl: String = "kubectl",
            context: String? = nil,
            namespace: String = "bookstore",
            baseURL: String? = nil,
            prometheusURL: String? = nil,
            alertmanagerURL: String? = nil,
            rabbitManagement: RabbitManagementEndpoint? = nil,
            rabbitCredentials: (user: String, password: String)? = nil,
            contracts: ContractBook? = nil,
            signingKey: SigningKey? = nil,
            admin: AdminCredentials = AdminCredentials(username: "admin", password: "admin123"),
            gatewayService: String = "gateway-service",
            prometheusService: String = "prometheus-service",
            alertmanagerService: String = "alertmanager-service",
            rabbitService: String = "rabbitmq"
        ) {
            self.kubectl = kubectl
            self.context = context
            self.namespace = namespace
            self.baseURL = baseURL
            self.prometheusURL = prometheusURL
            self.alertmanagerURL = alertmanagerURL
            self.rabbitManagement = rabbitManagement
            self.rabbitCredentials = rabbitCredentials
            self.contracts = contracts
            self.signingKey = signingKey
            self.admin = admin
            self.gatewayService = gatewayService
            self.prometheusService = prometheusService
            self.alertmanagerService = alertmanagerService
            self.rabbitService = rabbitService
        }
    }

    public let name = "kubernetes"
    public let configuration: Configuration
    let kubectl: Kubectl
    private let state = StateBox(TargetEndpoints())
    private let forwards = Mutex<[ChildProcess]>([])

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.kubectl = Kubectl(executable: configuration.kubectl, context: configuration.context, namespace: configuration.namespace)
    }

    public var endpoints: TargetEndpoints { self.state.value }

    public func prepare() async throws {
        let configuration = self.configuration
        _ = try await self.kubectl.json(["get", "deployments"])
        var endpoints = TargetEndpoints(contracts: configuration.contracts, signingKey: configuration.signingKey, admin: configuration.admin)
        endpoints.missingReasons[.contracts] = "the OpenAPI documents were not found (pass --contracts-dir)"
        endpoints.missingReasons[.signingKey] = "the JWT secret of the cluster is unknown (pass --jwt-secret)"
        endpoints.baseURL = try await self.url(configuration.baseURL, service: configuration.gatewayService, port: 8080)
        do {
            endpoints.prometheusURL = try await self.url(configuration.prometheusURL, service: configuration.prometheusService, port: 9090)
        } catch {
            endpoints.missingReasons[.prometheus] = "Prometheus is not reachable: \(error)"
        }
        do {
            endpoints.alertmanagerURL = try await self.url(configuration.alertmanagerURL, service: configuration.alertmanagerService, port: 9093)
        } catch {
            endpoints.missingReasons[.alertmanager] = "Alertmanager is not reachable: \(error)"
        }
        if let rabbit = configuration.rabbitManagement {
            endpoints.rabbitManagement = rabbit
        } else if let credentials = configuration.rabbitCredentials {
            do {
                let url = try await self.portForward(service: configuration.rabbitService, port: 15672)
                endpoints.rabbitManagement = RabbitManagementEndpoint(url: url, user: credentials.user, password: credentials.password)
            } catch {
                endpoints.missingReasons[.amqpManagement] = "the RabbitMQ management API is not reachable: \(error)"
            }
        } else {
            endpoints.missingReasons[.amqpManagement] =
                "no RabbitMQ management credentials (pass --rabbitmq-user/--rabbitmq-password, or --rabbitmq-management-url)"
        }
        endpoints.replicaControl = KubernetesReplicaControl(kubectl: self.kubectl)
        endpoints.autoscaler = KubernetesAutoscalerProbe(kubectl: self.kubectl)
        self.state.value = endpoints
    }

    public func release() async {
        let forwards = self.forwards.withLock { forwards -> [ChildProcess] in
            defer { forwards = [] }
            return forwards
        }
        for forward in forwards { await forward.terminate(grace: .seconds(2)) }
    }

    /// The given URL, else a port-forward to the service.
    func url(_ given: String?, service: String, port: Int) async throws -> String {
        if let given { return given }
        return try await self.portForward(service: service, port: port)
    }

    /// `kubectl port-forward svc/<service> :<port>` on 127.0.0.1; returns the local URL.
    func portForward(service: String, port: Int) async throws -> String {
        let child = try ChildProcess(
            executable: self.kubectl.resolvedExecutable,
            arguments: self.kubectl.baseArguments + ["port-forward", "--address", "127.0.0.1", "svc/\(service)", ":\(port)"]
        )
        self.forwards.withLock { $0.append(child) }
        let found = try await Polling.until(budget: .seconds(20), interval: .milliseconds(100)) { () -> Int? in
            if !child.isRunning { throw TargetError("kubectl port-forward svc/\(service) exited: \(child.errorText)") }
            return Self.forwardedPort(in: child.outputText)
        }
        guard let local = found?.value else { throw TargetError("kubectl port-forward svc/\(service) printed no local port in 20 s") }
        return "http://127.0.0.1:\(local)"
    }

    /// The local port of `Forwarding from 127.0.0.1:43567 -> 8080`.
    static func forwardedPort(in output: String) -> Int? {
        for line in output.split(separator: "\n") where line.contains("Forwarding from 127.0.0.1:") {
            let rest = line.split(separator: "127.0.0.1:", maxSplits: 1).last ?? ""
            if let port = Int(rest.prefix { $0.isNumber }) { return port }
        }
        return nil
    }
}

/// Runs kubectl with the context and namespace flags.
struct Kubectl: Sendable {
    let executable: String
    let context: String?
    let namespace: String

    var baseArguments: [String] {
        (self.context.map { ["--context", $0] } ?? []) + ["--namespace", self.namespace]
    }

    /// The executable, searched on PATH when not a path.
    var resolvedExecutable: String {
        guard !self.executable.contains("/") else { return self.executable }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(self.executable)") {
            return "\(directory)/\(self.executable)"
        }
        return self.executable
    }

    @discardableResult
    func run(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> String {
        let result = try await ChildProcess.run(self.resolvedExecutable, self.baseArguments + arguments, timeout: timeout)
        guard result.status == 0 else {
            throw TargetError("kubectl \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.error.prefix(500))")
        }
        return result.output
    }

    func json(_ arguments: [String]) async throws -> JSON {
        let output = try await self.run(arguments + ["-o", "json"])
        do {
            return try JSON.parse(output)
        } catch {
            throw TargetError("kubectl \(arguments.joined(separator: " ")) printed invalid JSON: \(error)")
        }
    }
}

/// The Kubernetes names of the services (Deployment name = `app` label).
enum KubernetesNames {
    static let deployments: [String: String] = [
        "gateway": "gateway-service", "users": "user-service", "payments-python": "payment-service-python",
        "payments-java": "payment-service-java", "reviews": "review-service",
    ]

    static func deployment(for service: String) -> String { self.deployments[service] ?? service }

    static func service(forDeployment name: String) -> String? { self.deployments.first { $0.value == name }?.key }
}

/// Replicas are pods: kill deletes a pod at once (`--grace-period=0 --force`), stop deletes it gracefully (the
/// Deployment replaces both), start is nothing to do; stopping a service scales its Deployment to 0 and restoring
/// scales it back.
struct KubernetesReplicaControl: ReplicaControl {
    let kubectl: Kubectl

    func replicas() async throws -> [ReplicaInfo] {
        let pods = try await self.kubectl.json(["get", "pods"])
        return (pods["items"]?.arrayValue ?? []).compactMap { pod in
            guard let name = pod["metadata"]?["name"]?.stringValue, let app = pod["metadata"]?["labels"]?["app"]?.stringValue,
                let service = KubernetesNames.service(forDeployment: app)
            else { return nil }
            if pod["metadata"]?["deletionTimestamp"] != nil {
                return ReplicaInfo(id: name, service: service, serviceName: app, status: "stopping")
            }
            let conditions = pod["status"]?["conditions"]?.arrayValue ?? []
            let ready = conditions.contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" }
            let phase = pod["status"]?["phase"]?.stringValue ?? "Unknown"
            let restarts = (pod["status"]?["containerStatuses"]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
            let status = ready ? "ready" : (phase == "Pending" ? "starting" : (phase == "Running" ? "unready" : phase.lowercased()))
            return ReplicaInfo(id: name, service: service, serviceName: app, status: status, restarts: restarts)
        }
    }

    func kill(_ id: String) async throws {
        try await self.kubectl.run(["delete", "pod", id, "--grace-period=0", "--force", "--wait=false"])
    }

    func stop(_ id: String) async throws {
        try await self.kubectl.run(["delete", "pod", id, "--wait=false"])
    }

    func start(_ id: String) async throws {}

    func stopService(_ service: String) async throws -> [String] {
        let deployment = KubernetesNames.deployment(for: service)
        let current = try await self.kubectl.json(["get", "deployment", deployment])
        let replicas = current["spec"]?["replicas"]?.intValue ?? 1
        try await self.kubectl.run(["scale", "deployment/\(deployment)", "--replicas=0"])
        return [String(replicas)]
    }

    func restoreService(_ service: String, token: [String]) async throws {
        let replicas = token.first.flatMap(Int.init) ?? 2
        try await self.kubectl.run(["scale", "deployment/\(KubernetesNames.deployment(for: service))", "--replicas=\(replicas)"])
    }
}

/// Reads the HorizontalPodAutoscaler whose `scaleTargetRef` is the service's Deployment.
struct KubernetesAutoscalerProbe: AutoscalerProbe {
    let kubectl: Kubectl

    func autoscaler(for service: String) async throws -> AutoscalerState {
        let deployment = KubernetesNames.deployment(for: service)
        let list = try await self.kubectl.json(["get", "hpa"])
        guard let hpa = (list["items"]?.arrayValue ?? []).first(where: { $0["spec"]?["scaleTargetRef"]?["name"]?.stringValue == deployment }) else {
            throw CheckFailure(expected: "a HorizontalPodAutoscaler targeting deployment/\(deployment)", seen: "none in the namespace")
        }
        return Self.state(from: hpa)
    }

    static func state(from hpa: JSON) -> AutoscalerState {
        let spec = hpa["spec"]
        let cpu = (spec?["metrics"]?.arrayValue ?? []).first { $0["resource"]?["name"]?.stringValue == "cpu" }
        func shortestPeriod(_ rules: JSON?, default value: Int) -> Int {
            (rules?["policies"]?.arrayValue ?? []).compactMap { $0["periodSeconds"]?.intValue }.min() ?? value
        }
        let behavior = spec?["behavior"]
        return AutoscalerState(
            name: hpa["metadata"]?["name"]?.stringValue ?? "",
            minReplicas: spec?["minReplicas"]?.intValue ?? 1,
            maxReplicas: spec?["maxReplicas"]?.intValue ?? 1,
            currentReplicas: hpa["status"]?["currentReplicas"]?.intValue ?? 0,
            desiredReplicas: hpa["status"]?["desiredReplicas"]?.intValue ?? 0,
            cpuTargetUtilization: cpu?["resource"]?["target"]?["averageUtilization"]?.intValue,
            scaleUpStabilizationSeconds: behavior?["scaleUp"]?["stabilizationWindowSeconds"]?.intValue ?? 0,
            scaleUpPeriodSeconds: shortestPeriod(behavior?["scaleUp"], default: 15),
            scaleDownStabilizationSeconds: behavior?["scaleDown"]?["stabilizationWindowSeconds"]?.intValue ?? 300,
            scaleDownPeriodSeconds: shortestPeriod(behavior?["scaleDown"], default: 15),
            scaleDownDisabled: behavior?["scaleDown"]?["selectPolicy"]?.stringValue == "Disabled"
        )
    }
}
