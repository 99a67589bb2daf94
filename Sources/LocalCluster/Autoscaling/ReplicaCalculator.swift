/// One pod's reading for one resource, as the metrics pipeline sees it.
public struct PodResourceSample: Sendable, Equatable {
    public var pod: String
    /// Whether the pod is ready (a pod still starting, or failing readiness, is not).
    public var isReady: Bool
    /// Current usage (cores for CPU, bytes for memory); nil when there is no reading yet.
    public var usage: Double?
    /// The pod's request for the resource.
    public var request: Double

    public init(pod: String, isReady: Bool, usage: Double?, request: Double) {
        self.pod = pod
        self.isReady = isReady
        self.usage = usage
        self.request = request
    }
}

/// The replica count one resource-utilisation metric asks for, computed as Kubernetes' replica calculator does
/// (`pkg/controller/podautoscaler/replica_calculator.go`, `GetResourceReplicas`): the ratio of average utilisation
/// to the target over the ready pods with readings, a tolerance band around 1 inside which nothing changes, and the
/// conservative treatment of pods without a reading (counted at 100 % of their request when scaling down, at 0 % when
/// scaling up) and of unready pods (counted at 0 % when the ratio says scale up), so that neither can cause flapping.
public enum ReplicaCalculator {
    /// Kubernetes' default `--horizontal-pod-autoscaler-tolerance`.
    public static let defaultTolerance = 0.1

    public struct Proposal: Sendable, Equatable {
        /// The replica count this metric asks for.
        public var replicas: Int
        /// Average utilisation of the ready pods with readings, in percent of their requests.
        public var utilization: Int
        /// Average usage of those pods (cores or bytes).
        public var averageUsage: Double
    }

    /// Nil when no ready pod has a reading (Kubernetes reports the metric as unavailable and changes nothing).
    public static func proposal(
        currentReplicas: Int,
        targetUtilization: Int,
        samples: [PodResourceSample],
        tolerance: Double = defaultTolerance
    ) -> Proposal? {
        let measured = samples.filter { $0.isReady && $0.usage != nil }
        let unready = samples.filter { !$0.isReady }
        let missing = samples.filter { $0.isReady && $0.usage == nil }
        guard !measured.isEmpty, targetUtilization > 0 else { return nil }

        func ratio(_ pods: [(usage: Double, request: Double)]) -> Double {
            let requests = pods.reduce(0) { $0 + $1.request }
            guard requests > 0 else { return 0 }
            return pods.reduce(0) { $0 + $1.usage } / requests * 100 / Double(targetUtilization)
        }
        var readings = measured.map { (usage: $0.usage ?? 0, request: $0.request) }
        let usageRatio = ratio(readings)
        let utilization = Int((usageRatio * Double(targetUtilization)).rounded())
        let averageUsage = readings.reduce(0) { $0 + $1.usage } / Double(readings.count)
        func proposal(_ replicas: Int) -> Proposal {
            Proposal(replicas: replicas, utilization: utilization, averageUsage: averageUsage)
        }

        let scaleUpWithUnready = !unready.isEmpty && usageRatio > 1
        if !scaleUpWithUnready && missing.isEmpty {
            if abs(1 - usageRatio) <= tolerance { return proposal(currentReplicas) }
            return proposal(Int((usageRatio * Double(readings.count)).rounded(.up)))
        }
        if !missing.isEmpty {
            if usageRatio < 1 {
                // Assume the pods without a reading use their whole request (at least the target): do not scale down on them.
                let fallback = Double(max(100, targetUtilization)) / 100
                readings += missing.map { (usage: $0.request * fallback, request: $0.request) }
            } else if usageRatio > 1 {
                readings += missing.map { (usage: 0, request: $0.request) }
            }
        }
        if scaleUpWithUnready { readings += unready.map { (usage: 0, request: $0.request) } }
        let newRatio = ratio(readings)
        if abs(1 - newRatio) <= tolerance || (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1) {
            return proposal(currentReplicas)
        }
        let replicas = Int((newRatio * Double(readings.count)).rounded(.up))
        if (newRatio < 1 && replicas > currentReplicas) || (newRatio > 1 && replicas < currentReplicas) {
            return proposal(currentReplicas)
        }
        return proposal(replicas)
    }
}
