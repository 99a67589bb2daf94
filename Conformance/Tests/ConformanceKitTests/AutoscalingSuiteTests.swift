import Foundation
import Hummingbird
import Synchronization
import Testing

@testable import ConformanceKit

/// The state both fakes report: min 2, max 5, a 70 % CPU target, short windows.
func fakeAutoscalerState(service: String, desired: Int, scaleDownDisabled: Bool) -> AutoscalerState {
    AutoscalerState(
        name: "\(service)-hpa",
        minReplicas: 2,
        maxReplicas: 5,
        currentReplicas: desired,
        desiredReplicas: desired,
        cpuTargetUtilization: 70,
        scaleUpStabilizationSeconds: 0,
        scaleUpPeriodSeconds: 1,
        scaleDownStabilizationSeconds: 1,
        scaleDownPeriodSeconds: 1,
        scaleDownDisabled: scaleDownDisabled
    )
}

/// An autoscaler that scales up after the fake gateway has seen `threshold` requests and back down once requests
/// stop, or (defective) never moves.
final class FakeAutoscaler: AutoscalerProbe {
    let operations: FakeOperations
    let scales: Bool
    /// `behavior.scaleDown.selectPolicy: Disabled`: it rises with the load and never falls back.
    let scaleDownDisabled: Bool
    private let state = Mutex<(desired: Int, lastCount: Int, idleSince: ContinuousClock.Instant?)>((2, 0, nil))

    init(operations: FakeOperations, scales: Bool, scaleDownDisabled: Bool = false) {
        self.operations = operations
        self.scales = scales
        self.scaleDownDisabled = scaleDownDisabled
    }

    func autoscaler(for service: String) async throws -> AutoscalerState {
        let count = self.operations.requestCount
        let desired = self.state.withLock { state -> Int in
            guard self.scales else { return state.desired }
            if count > state.lastCount {
                state.idleSince = nil
                if count > 20 { state.desired = min(state.desired + 1, 5) }
            } else if !self.scaleDownDisabled, let idle = state.idleSince, ContinuousClock.now - idle > .milliseconds(300) {
                state.desired = max(state.desired - 1, 2)
            } else if state.idleSince == nil {
                state.idleSince = .now
            }
            state.lastCount = count
            return state.desired
        }
        return fakeAutoscalerState(service: service, desired: desired, scaleDownDisabled: self.scaleDownDisabled)
    }
}

/// An autoscaler whose CPU target is reached only above `rate` requests per second (measured over the last ~0.6 s):
/// below it, desired replicas stay at 2, as with a CPU target the starting load is too light to reach.
final class RateAutoscaler: AutoscalerProbe {
    let operations: FakeOperations
    let rate: Double
    private let state = Mutex<(desired: Int, samples: [(ContinuousClock.Instant, Int)])>((2, []))

    init(operations: FakeOperations, rate: Double) {
        self.operations = operations
        self.rate = rate
    }

    func autoscaler(for service: String) async throws -> AutoscalerState {
        let count = self.operations.requestCount
        let now = ContinuousClock.now
        let desired = self.state.withLock { state -> Int in
            state.samples.append((now, count))
            state.samples.removeAll { now - $0.0 > .milliseconds(600) }
            if let oldest = state.samples.first, now - oldest.0 >= .milliseconds(400) {
                let observed = Double(count - oldest.1) / (now - oldest.0).asSeconds
                if observed > self.rate { state.desired = 3 }
            }
            return state.desired
        }
        return fakeAutoscalerState(service: service, desired: desired, scaleDownDisabled: false)
    }
}

@Suite struct AutoscalingSuiteTests {
    static var options: RunOptions {
        var options = RunOptions()
        options.autoscalingPath = "/api/reviews/book/x"
        options.autoscalingRate = 50
        options.autoscalingSlack = .seconds(1)
        options.autoscalingSyncPeriod = .milliseconds(500)
        options.autoscalingMetricsLag = .milliseconds(500)
        options.pollInterval = .milliseconds(100)
        return options
    }

    static let ids = ["HPA-BOUNDS", "HPA-SCALE-UP", "HPA-SCALE-DOWN"]

    @Test func anAutoscalerThatFollowsTheLoadPasses() async throws {
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let endpoints = TargetEndpoints(baseURL: url, autoscaler: FakeAutoscaler(operations: operations, scales: true))
            let results = try await Harness.run(Self.ids, endpoints: endpoints, options: Self.options)
            for id in Self.ids { #expect(results[id]?.status == .passed, "\(id): \(results[id]?.status.message ?? "")") }
        }
    }

    @Test func anAutoscalerThatNeverScalesFails() async throws {
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let endpoints = TargetEndpoints(baseURL: url, autoscaler: FakeAutoscaler(operations: operations, scales: false))
            let results = try await Harness.run(["HPA-SCALE-UP"], endpoints: endpoints, options: Self.options)
            let result = try #require(results["HPA-SCALE-UP"])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("desired replicas above 2") == true, "\(result.status.message ?? "")")
        }
    }

    /// How much load drives a CPU target above it depends on the target's hardware: an autoscaler that needs twice the
    /// starting rate is reached by the ramp, and not by a constant load (a maximum equal to the start, as before the
    /// ramp: it failed so, as CI once did on a faster machine).
    @Test func theLoadRampsUpUntilTheAutoscalerAnswers() async throws {
        for (maxRate, scales) in [(nil, true), (50.0, false)] {
            let operations = FakeOperations()
            try await FakeServer.with(operations.router) { url in
                let endpoints = TargetEndpoints(baseURL: url, autoscaler: RateAutoscaler(operations: operations, rate: 95))
                var options = Self.options
                options.autoscalingMaxRate = maxRate
                let results = try await Harness.run(["HPA-SCALE-UP"], endpoints: endpoints, options: options)
                let result = try #require(results["HPA-SCALE-UP"])
                #expect(result.status.isPassed == scales, "max rate \(maxRate.map { "\($0)" } ?? "default"): \(result.status)")
            }
        }
    }

    @Test func rampStepsGrowByHalfUpToTheMaximumWithinTheBudget() {
        let steps = AutoscalingSuite.rampSteps(rate: 500, maxRate: 2000, step: .seconds(30), budget: .seconds(105))
        #expect(steps.map(\.rate) == [500, 750, 1125, 1687.5])
        #expect(steps.map(\.duration) == [.seconds(30), .seconds(30), .seconds(30), .seconds(15)])
        let capped = AutoscalingSuite.rampSteps(rate: 500, maxRate: 600, step: .seconds(30), budget: .seconds(105))
        #expect(capped.map(\.rate) == [500, 600])
        #expect(capped.map(\.duration) == [.seconds(30), .seconds(75)])
        let flat = AutoscalingSuite.rampSteps(rate: 500, maxRate: 500, step: .seconds(30), budget: .seconds(105))
        #expect(flat.map(\.rate) == [500] && flat.map(\.duration) == [.seconds(105)])
        let noStep = AutoscalingSuite.rampSteps(rate: 500, maxRate: 2000, step: .zero, budget: .seconds(105))
        #expect(noStep.map(\.rate) == [500])
    }

    /// Issue 10: HPA-SCALE-DOWN passed when there had been no scale-up (desired replicas were already "back").
    @Test func scaleDownIsNotAPassWithoutAScaleUp() async throws {
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let endpoints = TargetEndpoints(baseURL: url, autoscaler: FakeAutoscaler(operations: operations, scales: false))
            let results = try await Harness.run(["HPA-SCALE-UP", "HPA-SCALE-DOWN"], endpoints: endpoints, options: Self.options)
            let result = try #require(results["HPA-SCALE-DOWN"])
            #expect(result.status.isError || result.status.isFailure, "not a pass or a skip: \(result.status)")
            #expect(result.status.message?.contains("never rose") == true, "\(result.status.message ?? "")")
        }
    }

    /// Issue 10 (planted twin: reviews-hpa-never-scales-down): an HPA whose scale-down is disabled fails its bounds at
    /// once and HPA-SCALE-DOWN without waiting out the budget.
    @Test func aDisabledScaleDownFailsTheBoundsAndTheScaleDown() async throws {
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let endpoints = TargetEndpoints(
                baseURL: url,
                autoscaler: FakeAutoscaler(operations: operations, scales: true, scaleDownDisabled: true)
            )
            let results = try await Harness.run(Self.ids, endpoints: endpoints, options: Self.options)
            #expect(results["HPA-SCALE-UP"]?.status == .passed, "it does scale up")
            #expect(results["HPA-BOUNDS"]?.status.isFailure == true)
            #expect(results["HPA-BOUNDS"]?.status.message?.contains("selectPolicy Disabled") == true)
            #expect(results["HPA-SCALE-DOWN"]?.status.isFailure == true)
            #expect(results["HPA-SCALE-DOWN"]?.status.message?.contains("never scales down") == true)
        }
    }

    @Test func withoutAnAutoscalerTheSuiteIsSkippedWithTheReason() async throws {
        let target = LocalTarget(configuration: .init())
        let reason = target.reasonMissing(.autoscaler)
        let results = try await Harness.run(Self.ids, endpoints: TargetEndpoints(baseURL: "http://127.0.0.1:9"))
        #expect(results.values.allSatisfy { $0.status.isSkipped })
        #expect(results["HPA-SCALE-UP"]?.status.message?.contains("needs autoscaler") == true)
        #expect(!reason.isEmpty)
    }
}

/// The local target reads the cluster's autoscaler stand-in through the control API, in the `kubectl get hpa` shape.
@Suite struct ControlAPIAutoscalerProbeTests {
    static let hpa = """
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "review-service-hpa"},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "review-service"}, "minReplicas": 2, "maxReplicas": 10,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
                  "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                               "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}},
         "status": {"currentReplicas": 2, "desiredReplicas": 4}}
        """

    static func router(items: String) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/autoscalers") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"kind": "List", "items": [\#(items)]}"#))
            )
        }
        return router
    }

    @Test func readsTheStateOfTheServicesAutoscaler() async throws {
        try await FakeServer.with(Self.router(items: Self.hpa)) { url in
            let probe = ControlAPIAutoscalerProbe(baseURL: url)
            let state = try await probe.autoscaler(for: "reviews")
            #expect(state.name == "review-service-hpa")
            #expect(state.minReplicas == 2 && state.maxReplicas == 10)
            #expect(state.currentReplicas == 2 && state.desiredReplicas == 4)
            #expect(state.cpuTargetUtilization == 70)
            #expect(state.scaleUpPeriodSeconds == 15 && state.scaleDownStabilizationSeconds == 300 && state.scaleDownPeriodSeconds == 60)
            #expect(!state.scaleDownDisabled)
            await #expect(throws: CheckFailure.self) { _ = try await probe.autoscaler(for: "users") }
        }
    }

    @Test func aClusterWithoutAutoscalersLeavesTheCapabilityMissingWithTheReason() async throws {
        try await FakeServer.with(Self.router(items: "").withHealth()) { url in
            let target = LocalTarget(configuration: .init(baseURL: url, controlURL: url))
            try await target.prepare()
            #expect(target.endpoints.autoscaler == nil)
            #expect(target.reasonMissing(.autoscaler).contains("without its autoscaler"))
        }
        try await FakeServer.with(Self.router(items: Self.hpa).withHealth()) { url in
            let target = LocalTarget(configuration: .init(baseURL: url, controlURL: url))
            try await target.prepare()
            #expect(target.endpoints.autoscaler != nil)
        }
    }
}

extension Router<BasicRequestContext> {
    /// Adds the health routes a local target waits for (gateway and every service through it) and the control API's
    /// replica list it probes.
    func withHealth() -> Self {
        for path in [
            "/actuator/health/liveness", "/actuator/health/readiness", "/api/users/health", "/api/payments-python/health",
            "/api/payments-java/actuator/health", "/api/reviews/health",
        ] {
            self.get(RouterPath(path)) { _, _ in "UP" }
        }
        self.get("/replicas") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "[]")))
        }
        return self
    }
}
