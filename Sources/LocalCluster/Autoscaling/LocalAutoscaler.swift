import BookstoreCore
import BookstoreRuntime
import Foundation
import JSONKit
import Logging

/// What the local autoscaler follows and how often it decides.
public struct AutoscalingConfiguration: Sendable {
    /// The HorizontalPodAutoscalers and Deployment requests of `k8s/`.
    public var manifests: KubernetesManifests
    /// The services whose HPA is followed (by default every backend; the local gateway is the single entry point on
    /// 8080, with no load balancer in front that would spread traffic over more gateway replicas).
    public var services: Set<ServiceKind>
    /// The controller's sync period (`--horizontal-pod-autoscaler-sync-period`, 15 s in Kubernetes).
    public var syncPeriod: Duration
    public var tolerance: Double

    public init(
        manifests: KubernetesManifests,
        services: Set<ServiceKind> = [.users, .paymentsPython, .paymentsJava, .reviews],
        syncPeriod: Duration = .seconds(15),
        tolerance: Double = ReplicaCalculator.defaultTolerance
    ) {
        self.manifests = manifests
        self.services = services
        self.syncPeriod = syncPeriod
        self.tolerance = tolerance
    }
}

/// What the autoscaler needs from the cluster: its replicas and a way to scale a service (the ``Supervisor``).
public protocol AutoscaledCluster: Sendable {
    var allReplicas: [Replica] { get async }
    func scale(_ kind: ServiceKind, to count: Int) async throws -> [Replica]
}

extension Supervisor: AutoscaledCluster {}

/// The local cluster's stand-in for the Kubernetes HPA controller: every sync period, for each HorizontalPodAutoscaler
/// of `k8s/` whose Deployment is a service of the cluster, it reads the CPU and memory of the service's replica processes
/// (from `/proc`, against the Deployment's container requests), computes the desired replica count with the
/// Kubernetes algorithm (``ReplicaCalculator``, ``HorizontalAutoscaler``) and scales the service through the supervisor.
/// Its state is served by the control API in the shape of `kubectl get hpa -o json`.
public actor LocalAutoscaler {
    struct Entry {
        var kind: ServiceKind
        var controller: HorizontalAutoscaler
        var requests: ResourceRequests
        var status = Status()
    }

    struct Status {
        var currentReplicas: Int?
        var desiredReplicas: Int?
        var lastScaleTime: Date?
        var currentMetrics: [String: ReplicaCalculator.Proposal] = [:]
        var condition: (reason: String, message: String)?
    }

    public let configuration: AutoscalingConfiguration
    private let cluster: any AutoscaledCluster
    private let readUsage: @Sendable (Int32) -> ProcessUsage?
    private let logger: Logger
    private var entries: [Entry]
    private var sampler = UsageSampler()
    /// Pods ready at the previous sync: only their CPU windows started after they were ready (Kubernetes ignores
    /// the CPU of pods still initialising).
    private var readyAtLastSync: Set<String> = []

    public init(
        configuration: AutoscalingConfiguration,
        cluster: any AutoscaledCluster,
        logger: Logger,
        readUsage: @escaping @Sendable (Int32) -> ProcessUsage? = { ProcessUsage.read(pid: $0) }
    ) {
        self.configuration = configuration
        self.cluster = cluster
        self.readUsage = readUsage
        self.logger = logger
        self.entries = configuration.manifests.autoscalers.compactMap { spec in
            guard let kind = ServiceKind.allCases.first(where: { $0.clusterServiceName == spec.targetName }),
                configuration.services.contains(kind)
            else { return nil }
            return Entry(
                kind: kind,
                controller: HorizontalAutoscaler(spec: spec),
                requests: configuration.manifests.requests[spec.targetName] ?? .init()
            )
        }
    }

    /// The services under autoscaling.
    public var autoscaledServices: [ServiceKind] { self.entries.map(\.kind) }

    /// Decides every sync period until cancelled.
    public func run() async {
        self.logger.info(
            "Autoscaler started",
            metadata: [
                "autoscaler.services": .string(self.entries.map(\.kind.rawValue).joined(separator: ",")),
                "autoscaler.sync_period_s": .stringConvertible(self.configuration.syncPeriod.asSeconds),
            ]
        )
        while !Task.isCancelled {
            await self.sync(now: .now)
            do {
                try await Task.sleep(for: self.configuration.syncPeriod)
            } catch {
                return
            }
        }
    }

    /// One pass of the controller over every autoscaler.
    func sync(now: ContinuousClock.Instant) async {
        let kinds = Set(self.entries.map(\.kind))
        let replicas = await self.cluster.allReplicas.filter { kinds.contains($0.kind) }
        var readings: [String: (cpuCores: Double, memoryBytes: Double)] = [:]
        for replica in replicas {
            guard let pid = replica.pid else { continue }
            readings[replica.id] = self.sampler.sample(pod: replica.id, pid: pid, now: now, read: self.readUsage)
        }
        self.sampler.retain(pods: Set(replicas.filter { $0.pid != nil }.map(\.id)))
        let readyNow = Set(replicas.filter { $0.status == .ready }.map(\.id))
        defer { self.readyAtLastSync = readyNow }

        for index in self.entries.indices {
            let entry = self.entries[index]
            let pods = replicas.filter { $0.kind == entry.kind }
            let current = pods.count
            var status = entry.status
            status.currentReplicas = current
            guard current > 0 else {
                status.condition = ("ScalingDisabled", "the service has 0 replicas: autoscaling is disabled until it is scaled up")
                self.entries[index].status = status
                continue
            }
            var proposals: [Int?] = []
            status.currentMetrics = [:]
            for metric in entry.controller.spec.metrics {
                guard let request = entry.requests.amount(of: metric.resource), request > 0 else {
                    proposals.append(nil)
                    continue
                }
                let samples = pods.filter { $0.pid != nil }.map { pod -> PodResourceSample in
                    let reading = readings[pod.id]
                    let isCPU = metric.resource == "cpu"
                    let ready = isCPU ? pod.status == .ready && self.readyAtLastSync.contains(pod.id) : pod.status != .starting
                    let usage = isCPU ? reading?.cpuCores : reading?.memoryBytes
                    return PodResourceSample(pod: pod.id, isReady: ready, usage: usage, request: request)
                }
                let proposal = ReplicaCalculator.proposal(
                    currentReplicas: current,
                    targetUtilization: metric.averageUtilization,
                    samples: samples,
                    tolerance: self.configuration.tolerance
                )
                if let proposal { status.currentMetrics[metric.resource] = proposal }
                proposals.append(proposal?.replicas)
            }
            let decision = self.entries[index].controller.reconcile(currentReplicas: current, proposals: proposals, now: now)
            status.desiredReplicas = decision.desiredReplicas
            switch decision.reason {
            case .noMetrics:
                status.condition = ("FailedGetResourceMetric", "no ready replica has a resource reading yet")
            case .outOfBounds:
                status.condition = (
                    "OutOfBounds", "replicas \(current) outside [\(entry.controller.spec.minReplicas), \(entry.controller.spec.maxReplicas)]"
                )
            case .metrics:
                status.condition = ("ValidMetricFound", "metrics ask for \(decision.proposed.map(String.init) ?? "?") replicas")
            }
            if decision.desiredReplicas != current {
                do {
                    _ = try await self.cluster.scale(entry.kind, to: decision.desiredReplicas)
                    status.lastScaleTime = Date()
                    self.logger.info(
                        "Autoscaler rescaled a service",
                        metadata: [
                            "service": .string(entry.kind.rawValue), "autoscaler.replicas.from": .stringConvertible(current),
                            "autoscaler.replicas.to": .stringConvertible(decision.desiredReplicas),
                            "autoscaler.reason": .string(status.condition?.message ?? ""),
                            "autoscaler.cpu_utilization": .stringConvertible(status.currentMetrics["cpu"]?.utilization ?? -1),
                        ]
                    )
                } catch {
                    status.condition = ("FailedRescale", "\(error)")
                    self.logger.error(
                        "Autoscaler could not rescale",
                        metadata: ["service": .string(entry.kind.rawValue), "error": .string("\(error)")]
                    )
                }
            }
            self.entries[index].status = status
        }
    }

    // MARK: The control API's view

    /// Every autoscaler as a `kubectl get hpa -o json` list.
    public func list() -> JSON {
        ["apiVersion": "v1", "kind": "List", "items": .array(self.entries.map(Self.object))]
    }

    /// The autoscaler of a service (`reviews` or its Deployment name `review-service`), if it is autoscaled.
    public func object(for service: String) -> JSON? {
        self.entries.first { $0.kind.rawValue == service || $0.kind.clusterServiceName == service }.map(Self.object)
    }

    static func object(_ entry: Entry) -> JSON {
        let spec = entry.controller.spec
        var status = JSONObject()
        status["currentReplicas"] = entry.status.currentReplicas.map { .int($0) } ?? .int(0)
        status["desiredReplicas"] = entry.status.desiredReplicas.map { .int($0) } ?? .int(0)
        if let time = entry.status.lastScaleTime { status["lastScaleTime"] = .string(Timestamp.iso8601(time)) }
        status["currentMetrics"] = .array(
            spec.metrics.compactMap { metric in
                guard let proposal = entry.status.currentMetrics[metric.resource] else { return nil }
                let value =
                    metric.resource == "cpu"
                    ? "\(Int((proposal.averageUsage * 1000).rounded()))m" : "\(Int((proposal.averageUsage / 1_048_576).rounded()))Mi"
                return [
                    "type": "Resource",
                    "resource": [
                        "name": .string(metric.resource),
                        "current": ["averageUtilization": .int(proposal.utilization), "averageValue": .string(value)],
                    ],
                ]
            }
        )
        if let condition = entry.status.condition {
            status["conditions"] = [
                [
                    "type": "ScalingActive", "status": condition.reason == "ValidMetricFound" ? "True" : "False",
                    "reason": .string(condition.reason), "message": .string(condition.message),
                ]
            ]
        }
        return [
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": [
                "name": .string(spec.name),
                "labels": ["app": .string(spec.targetName)],
                "annotations": ["bookstore.local/stand-in": "local cluster autoscaler following the Kubernetes HPA algorithm"],
            ],
            "spec": [
                "scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(spec.targetName)],
                "minReplicas": .int(spec.minReplicas),
                "maxReplicas": .int(spec.maxReplicas),
                "metrics": .array(
                    spec.metrics.map {
                        [
                            "type": "Resource",
                            "resource": [
                                "name": .string($0.resource), "target": ["type": "Utilization", "averageUtilization": .int($0.averageUtilization)],
                            ],
                        ]
                    }
                ),
                "behavior": ["scaleUp": self.rules(spec.scaleUp), "scaleDown": self.rules(spec.scaleDown)],
            ],
            "status": .object(status),
        ]
    }

    static func rules(_ rules: HorizontalPodAutoscalerSpec.Rules) -> JSON {
        [
            "stabilizationWindowSeconds": .int(rules.stabilizationWindowSeconds),
            "selectPolicy": .string(rules.selectPolicy.rawValue),
            "policies": .array(
                rules.policies.map { ["type": .string($0.kind.rawValue), "value": .int($0.value), "periodSeconds": .int($0.periodSeconds)] }
            ),
        ]
    }
}
