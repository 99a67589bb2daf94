import Testing

@testable import LocalCluster

/// The replica calculator and the controller's normalisation, against hand-computed Kubernetes outcomes.
@Suite struct HorizontalAutoscalerTests {
    let t0 = ContinuousClock.now

    func pods(_ usages: [Double?], ready: Bool = true, request: Double = 0.25, prefix: String = "p") -> [PodResourceSample] {
        usages.enumerated().map { PodResourceSample(pod: "\(prefix)\($0.offset)", isReady: ready, usage: $0.element, request: request) }
    }

    // MARK: Replica calculator

    @Test func utilisationWithinToleranceKeepsTheCount() throws {
        // 0.1875 of 0.25 cores is 75 %: ratio 75/70 = 1.07, inside the 0.1 band.
        let proposal = try #require(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: self.pods([0.1875, 0.1875])))
        #expect(proposal.replicas == 2)
        #expect(proposal.utilization == 75)
    }

    @Test func loadAboveTheTargetAsksForProportionallyMoreReplicas() throws {
        // 140 % against a 70 % target: ratio 2 → ceil(2 × 2) = 4.
        let proposal = try #require(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: self.pods([0.35, 0.35])))
        #expect(proposal.replicas == 4)
        #expect(proposal.utilization == 140)
        #expect(abs(proposal.averageUsage - 0.35) < 1e-9)
        // Uneven pods: 0.5 + 0.1 cores over 0.5 requested = 120 % → ratio 1.714 → ceil(3.43) = 4.
        #expect(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: self.pods([0.5, 0.1]))?.replicas == 4)
    }

    @Test func idlePodsAskForFewerReplicas() {
        // 10 % against 70 %: ceil(0.143 × 4) = 1 (the controller clamps to minReplicas).
        #expect(
            ReplicaCalculator.proposal(currentReplicas: 4, targetUtilization: 70, samples: self.pods([0.025, 0.025, 0.025, 0.025]))?.replicas == 1
        )
    }

    @Test func podsWithoutAReadingCountAsFullyBusyWhenScalingDown() {
        // Measured pods at 10 %; the two without readings count as 100 % of their request: (0.05 + 0.5) / 1.0 = 55 %,
        // ratio 0.786 → ceil(3.14) = 4: no scale down on missing data.
        let samples = self.pods([0.025, 0.025]) + self.pods([nil, nil], prefix: "m")
        #expect(ReplicaCalculator.proposal(currentReplicas: 4, targetUtilization: 70, samples: samples)?.replicas == 4)
    }

    @Test func podsWithoutAReadingCountAsIdleWhenScalingUp() {
        // Two pods at 280 %, two without readings counted at 0 %: 140 % over four → ratio 2 → 8.
        let samples = self.pods([0.7, 0.7]) + self.pods([nil, nil], prefix: "m")
        #expect(ReplicaCalculator.proposal(currentReplicas: 4, targetUtilization: 70, samples: samples)?.replicas == 8)
    }

    @Test func unreadyPodsCountAsIdleWhenScalingUp() {
        // Two ready pods at 140 %, two starting pods counted at 0 %: 70 % → ratio 1 → no change (they will take load).
        let samples = self.pods([0.35, 0.35]) + self.pods([0.9, 0.9], ready: false, prefix: "u")
        #expect(ReplicaCalculator.proposal(currentReplicas: 4, targetUtilization: 70, samples: samples)?.replicas == 4)
        // Unready pods are ignored when the ready ones ask for fewer replicas.
        let idle = self.pods([0.025, 0.025]) + self.pods([0.9], ready: false, prefix: "u")
        #expect(ReplicaCalculator.proposal(currentReplicas: 3, targetUtilization: 70, samples: idle)?.replicas == 1)
    }

    @Test func noReadyReadingMeansNoProposal() {
        #expect(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: self.pods([nil, nil])) == nil)
        #expect(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: self.pods([0.3], ready: false)) == nil)
        #expect(ReplicaCalculator.proposal(currentReplicas: 2, targetUtilization: 70, samples: []) == nil)
    }

    // MARK: Controller

    /// The behaviour of `k8s/review-deployment.yml`.
    var reviewSpec: HorizontalPodAutoscalerSpec {
        HorizontalPodAutoscalerSpec(
            name: "review-service-hpa",
            targetName: "review-service",
            minReplicas: 2,
            maxReplicas: 10,
            metrics: [.init(resource: "cpu", averageUtilization: 70)],
            scaleUp: .init(
                stabilizationWindowSeconds: 0,
                selectPolicy: .max,
                policies: [.init(.percent, value: 100, periodSeconds: 15), .init(.pods, value: 4, periodSeconds: 15)]
            ),
            scaleDown: .init(
                stabilizationWindowSeconds: 300,
                selectPolicy: .min,
                policies: [.init(.percent, value: 50, periodSeconds: 60), .init(.pods, value: 2, periodSeconds: 60)]
            )
        )
    }

    func at(_ seconds: Int) -> ContinuousClock.Instant { self.t0 + .seconds(seconds) }

    @Test func scaleUpIsLimitedByTheLargerPolicyPerPeriod() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        // From 2: +100 % allows 4, +4 pods allows 6; Max picks 6.
        #expect(controller.reconcile(currentReplicas: 2, proposals: [10], now: self.at(0)).desiredReplicas == 6)
        // Within the same 15 s period the count at its start is still 2: no further step.
        #expect(controller.reconcile(currentReplicas: 6, proposals: [10], now: self.at(5)).desiredReplicas == 6)
        // A period later: 6 → max(12, 10) capped at maxReplicas 10.
        let decision = controller.reconcile(currentReplicas: 6, proposals: [20], now: self.at(16))
        #expect(decision.desiredReplicas == 10)
        #expect(decision.proposed == 20)
    }

    @Test func scaleDownWaitsForTheStabilizationWindowThenFollowsTheSlowerPolicy() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        #expect(controller.reconcile(currentReplicas: 2, proposals: [6], now: self.at(0)).desiredReplicas == 6)
        // The load stops: every sync asks for 2, but 6 was recommended within the last 300 s.
        var seen: [Int] = []
        for second in stride(from: 15, through: 285, by: 15) {
            seen.append(controller.reconcile(currentReplicas: 6, proposals: [2], now: self.at(second)).desiredReplicas)
        }
        #expect(seen.allSatisfy { $0 == 6 }, "\(seen)")
        // Once the 6 is older than the window: 50 % allows 3, 2 pods allows 4; Min (the smaller change) picks 4.
        #expect(controller.reconcile(currentReplicas: 6, proposals: [2], now: self.at(300)).desiredReplicas == 4)
        // Within the next 60 s the period still started at 6: no further step.
        #expect(controller.reconcile(currentReplicas: 4, proposals: [2], now: self.at(345)).desiredReplicas == 4)
        // Then from 4: 50 % allows 2, 2 pods allows 2.
        #expect(controller.reconcile(currentReplicas: 4, proposals: [2], now: self.at(361)).desiredReplicas == 2)
        #expect(controller.reconcile(currentReplicas: 2, proposals: [1], now: self.at(400)).desiredReplicas == 2, "never below min")
    }

    @Test func oscillatingMetricsDoNotFlap() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        var desired = 2
        var history: [Int] = []
        for (index, proposal) in [3, 2, 3, 2, 3, 2, 2, 3].enumerated() {
            desired = controller.reconcile(currentReplicas: desired, proposals: [proposal], now: self.at(index * 15)).desiredReplicas
            history.append(desired)
        }
        #expect(history == [3, 3, 3, 3, 3, 3, 3, 3])
    }

    @Test func replicasOutsideTheBoundsAreBroughtBackWithoutMetrics() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        let low = controller.reconcile(currentReplicas: 1, proposals: [], now: self.at(0))
        #expect(low.desiredReplicas == 2 && low.reason == .outOfBounds)
        let high = controller.reconcile(currentReplicas: 12, proposals: [nil], now: self.at(1))
        #expect(high.desiredReplicas == 10 && high.reason == .outOfBounds)
    }

    @Test func withoutReadingsNothingChanges() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        let decision = controller.reconcile(currentReplicas: 3, proposals: [nil, nil], now: self.at(0))
        #expect(decision.desiredReplicas == 3 && decision.reason == .noMetrics)
    }

    @Test func theLargestMetricWinsAndDisabledPoliciesHold() {
        var controller = HorizontalAutoscaler(spec: self.reviewSpec)
        #expect(controller.reconcile(currentReplicas: 2, proposals: [2, 3, nil], now: self.at(0)).desiredReplicas == 3)

        var spec = self.reviewSpec
        spec.scaleUp.selectPolicy = .disabled
        spec.scaleDown.selectPolicy = .disabled
        var frozen = HorizontalAutoscaler(spec: spec)
        #expect(frozen.reconcile(currentReplicas: 3, proposals: [8], now: self.at(0)).desiredReplicas == 3)
        #expect(frozen.reconcile(currentReplicas: 3, proposals: [2], now: self.at(400)).desiredReplicas == 3)
    }

    @Test func kubernetesDefaultBehaviourAllowsDoublingOrFourPods() {
        var controller = HorizontalAutoscaler(
            spec: HorizontalPodAutoscalerSpec(
                name: "d",
                targetName: "d",
                minReplicas: 1,
                maxReplicas: 50,
                metrics: [.init(resource: "cpu", averageUtilization: 50)]
            )
        )
        #expect(controller.reconcile(currentReplicas: 1, proposals: [40], now: self.at(0)).desiredReplicas == 5, "+4 pods beats +100 %")
        #expect(controller.reconcile(currentReplicas: 5, proposals: [40], now: self.at(15)).desiredReplicas == 10, "+100 % beats +4 pods")
        // Default scale-down: a 300 s window, then all the way at once (100 % per 15 s).
        #expect(controller.reconcile(currentReplicas: 10, proposals: [1], now: self.at(30)).desiredReplicas == 10)
        #expect(controller.reconcile(currentReplicas: 10, proposals: [1], now: self.at(331)).desiredReplicas == 1)
    }
}
