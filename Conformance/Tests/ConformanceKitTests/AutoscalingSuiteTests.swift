import ConformanceKit
import Foundation
import Synchronization
import Testing

/// An autoscaler that scales up after the fake gateway has seen `threshold` requests and back down once requests
/// stop, or (defective) never moves.
final class FakeAutoscaler: AutoscalerProbe {
    let operations: FakeOperations
    let scales: Bool
    private let state = Mutex<(desired: Int, lastCount: Int, idleSince: ContinuousClock.Instant?)>((2, 0, nil))

    init(operations: FakeOperations, scales: Bool) {
        self.operations = operations
        self.scales = scales
    }

    func autoscaler(for service: String) async throws -> AutoscalerState {
        let count = self.operations.requestCount
        let desired = self.state.withLock { state -> Int in
            guard self.scales else { return state.desired }
            if count > state.lastCount {
                state.idleSince = nil
                if count > 20 { state.desired = min(state.desired + 1, 5) }
            } else if let idle = state.idleSince, ContinuousClock.now - idle > .milliseconds(300) {
                state.desired = max(state.desired - 1, 2)
            } else if state.idleSince == nil {
                state.idleSince = .now
            }
            state.lastCount = count
            return state.desired
        }
        return AutoscalerState(
            name: "\(service)-hpa",
            minReplicas: 2,
            maxReplicas: 5,
            currentReplicas: desired,
            desiredReplicas: desired,
            cpuTargetUtilization: 70,
            scaleUpStabilizationSeconds: 0,
            scaleUpPeriodSeconds: 1,
            scaleDownStabilizationSeconds: 1,
            scaleDownPeriodSeconds: 1
        )
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

    @Test func withoutAnAutoscalerTheSuiteIsSkippedWithTheReason() async throws {
        let target = LocalTarget(configuration: .init())
        let reason = target.reasonMissing(.autoscaler)
        let results = try await Harness.run(Self.ids, endpoints: TargetEndpoints(baseURL: "http://127.0.0.1:9"))
        #expect(results.values.allSatisfy { $0.status.isSkipped })
        #expect(results["HPA-SCALE-UP"]?.status.message?.contains("needs autoscaler") == true)
        #expect(!reason.isEmpty)
    }
}
