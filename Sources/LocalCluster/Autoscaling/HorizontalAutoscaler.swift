/// The decisions of one HorizontalPodAutoscaler, made as the Kubernetes controller makes them
/// (`pkg/controller/podautoscaler/horizontal.go`): replicas outside `[min, max]` are brought back to the bound; otherwise
/// the largest proposal of the metrics is stabilized (scale up only to the lowest recommendation of the scale-up window,
/// down only to the highest of the scale-down window) and then limited by the behaviour's rate policies, measured from
/// the replica count at the start of each policy's period. Pure: time and metrics are passed in.
public struct HorizontalAutoscaler: Sendable {
    public let spec: HorizontalPodAutoscalerSpec

    struct Recommendation: Sendable {
        var at: ContinuousClock.Instant
        var replicas: Int
    }

    struct ScaleEvent: Sendable {
        var at: ContinuousClock.Instant
        var change: Int
    }

    private var recommendations: [Recommendation] = []
    private var scaleUpEvents: [ScaleEvent] = []
    private var scaleDownEvents: [ScaleEvent] = []

    public init(spec: HorizontalPodAutoscalerSpec) {
        self.spec = spec
    }

    public struct Decision: Sendable, Equatable {
        public enum Reason: String, Sendable {
            /// Replicas were outside `[minReplicas, maxReplicas]`.
            case outOfBounds = "OutOfBounds"
            /// The metrics ask for this count (after stabilization and rate limits).
            case metrics = "Metrics"
            /// No metric had a reading: nothing changes.
            case noMetrics = "NoMetrics"
        }

        public var desiredReplicas: Int
        public var reason: Reason
        /// What the metrics asked for before stabilization and rate limits.
        public var proposed: Int?
    }

    /// Decides the desired replica count. `proposals` are the per-metric replica counts (nil entries: no reading).
    public mutating func reconcile(currentReplicas: Int, proposals: [Int?], now: ContinuousClock.Instant) -> Decision {
        let decision: Decision
        if currentReplicas > self.spec.maxReplicas {
            decision = Decision(desiredReplicas: self.spec.maxReplicas, reason: .outOfBounds)
        } else if currentReplicas < self.spec.minReplicas {
            decision = Decision(desiredReplicas: self.spec.minReplicas, reason: .outOfBounds)
        } else if let proposed = proposals.compactMap({ $0 }).max() {
            let stabilized = self.stabilize(currentReplicas: currentReplicas, proposed: proposed, now: now)
            let limited = self.limitRate(currentReplicas: currentReplicas, desired: stabilized, now: now)
            decision = Decision(desiredReplicas: limited, reason: .metrics, proposed: proposed)
        } else {
            return Decision(desiredReplicas: currentReplicas, reason: .noMetrics)
        }
        if decision.desiredReplicas != currentReplicas {
            self.record(from: currentReplicas, to: decision.desiredReplicas, now: now)
        }
        return decision
    }

    /// Bounds `proposed` by the recommendations of the stabilization windows, then remembers it.
    private mutating func stabilize(currentReplicas: Int, proposed: Int, now: ContinuousClock.Instant) -> Int {
        let upCutoff = now - .seconds(self.spec.scaleUp.stabilizationWindowSeconds)
        let downCutoff = now - .seconds(self.spec.scaleDown.stabilizationWindowSeconds)
        var up = proposed
        var down = proposed
        for recommendation in self.recommendations {
            if recommendation.at > upCutoff { up = min(up, recommendation.replicas) }
            if recommendation.at > downCutoff { down = max(down, recommendation.replicas) }
        }
        let oldest = min(upCutoff, downCutoff)
        self.recommendations.removeAll { $0.at <= oldest }
        self.recommendations.append(Recommendation(at: now, replicas: proposed))
        return min(max(currentReplicas, up), down)
    }

    private func limitRate(currentReplicas: Int, desired: Int, now: ContinuousClock.Instant) -> Int {
        if desired > currentReplicas {
            let limit = max(self.scaleUpLimit(currentReplicas: currentReplicas, now: now), currentReplicas)
            return min(desired, min(self.spec.maxReplicas, limit))
        }
        if desired < currentReplicas {
            let limit = min(self.scaleDownLimit(currentReplicas: currentReplicas, now: now), currentReplicas)
            return max(desired, max(self.spec.minReplicas, limit))
        }
        return desired
    }

    /// The replica count at the start of a policy's period: now's count minus what was added, plus what was removed.
    private func periodStart(currentReplicas: Int, periodSeconds: Int, now: ContinuousClock.Instant) -> Int {
        let cutoff = now - .seconds(periodSeconds)
        let added = self.scaleUpEvents.filter { $0.at > cutoff }.reduce(0) { $0 + $1.change }
        let removed = self.scaleDownEvents.filter { $0.at > cutoff }.reduce(0) { $0 + $1.change }
        return currentReplicas - added + removed
    }

    func scaleUpLimit(currentReplicas: Int, now: ContinuousClock.Instant) -> Int {
        let rules = self.spec.scaleUp
        let proposals = rules.policies.map { policy in
            let start = self.periodStart(currentReplicas: currentReplicas, periodSeconds: policy.periodSeconds, now: now)
            switch policy.kind {
            case .pods: return start + policy.value
            case .percent: return Int((Double(start) * (1 + Double(policy.value) / 100)).rounded(.up))
            }
        }
        switch rules.selectPolicy {
        case .disabled: return currentReplicas
        case .min: return proposals.min() ?? currentReplicas
        case .max: return proposals.max() ?? currentReplicas
        }
    }

    func scaleDownLimit(currentReplicas: Int, now: ContinuousClock.Instant) -> Int {
        let rules = self.spec.scaleDown
        let proposals = rules.policies.map { policy in
            let start = self.periodStart(currentReplicas: currentReplicas, periodSeconds: policy.periodSeconds, now: now)
            switch policy.kind {
            case .pods: return start - policy.value
            case .percent: return Int(Double(start) * (1 - Double(policy.value) / 100))
            }
        }
        switch rules.selectPolicy {
        case .disabled: return currentReplicas
        // "Min" selects the policy allowing the smallest change: the highest floor.
        case .min: return proposals.max() ?? currentReplicas
        case .max: return proposals.min() ?? currentReplicas
        }
    }

    private mutating func record(from previous: Int, to new: Int, now: ContinuousClock.Instant) {
        let upCutoff = now - .seconds(self.spec.scaleUp.longestPeriodSeconds)
        let downCutoff = now - .seconds(self.spec.scaleDown.longestPeriodSeconds)
        self.scaleUpEvents.removeAll { $0.at <= upCutoff }
        self.scaleDownEvents.removeAll { $0.at <= downCutoff }
        if new > previous {
            self.scaleUpEvents.append(ScaleEvent(at: now, change: new - previous))
        } else {
            self.scaleDownEvents.append(ScaleEvent(at: now, change: previous - new))
        }
    }
}
