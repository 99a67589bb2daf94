import Foundation

/// autoscaling: under load above the target, the service's HorizontalPodAutoscaler raises desired replicas within
/// a budget derived from its spec (sync period, scale-up stabilization window and policy period, metrics lag), stays
/// within min/max, and falls back after the load stops (scale-down stabilization window) without flapping.
///
/// Runs where the target offers an autoscaler: a real HPA on `kubernetes`, the local cluster's stand-in (which follows
/// the same HPA manifests with the Kubernetes algorithm) on `local`.
public enum AutoscalingSuite {
    static let initialKey = "autoscaling.initial"
    /// The raised state HPA-SCALE-UP saw (set only when desired replicas rose).
    static let raisedKey = "autoscaling.raised"

    public static var checks: [Check] {
        [self.bounds, self.scaleUp, self.scaleDown]
    }

    static func check(
        _ id: String,
        _ summary: String,
        timeLimit: Duration = .seconds(1_200),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .autoscaling, summary, requires: [.http, .autoscaler], timeLimit: timeLimit, body: body)
    }

    static func probe(_ context: CheckContext) throws -> any AutoscalerProbe {
        guard let probe = context.endpoints.autoscaler else { throw CheckSkip("no autoscaler") }
        return probe
    }

    static func describe(_ state: AutoscalerState) -> String {
        "\(state.name): min \(state.minReplicas), max \(state.maxReplicas), current \(state.currentReplicas), desired \(state.desiredReplicas)"
            + (state.cpuTargetUtilization.map { ", CPU target \($0) %" } ?? "")
    }

    /// The polled desired-replica series, run-length encoded: `2 ×56, 3 ×1` (one poll per `--poll-interval`).
    static func describe(series: [Int]) -> String {
        var runs: [(value: Int, count: Int)] = []
        for value in series {
            if let last = runs.last, last.value == value { runs[runs.count - 1].count += 1 } else { runs.append((value, 1)) }
        }
        return runs.isEmpty ? "none" : runs.map { "\($0.value) ×\($0.count)" }.joined(separator: ", ")
    }

    static var bounds: Check {
        self.check("HPA-BOUNDS", "The service's autoscaler has sane bounds and its replicas are within them", timeLimit: .seconds(60)) { context in
            let state = try await self.probe(context).autoscaler(for: context.options.autoscalingService)
            context.measure("autoscaler", self.describe(state))
            try context.require(
                state.minReplicas >= 1 && state.maxReplicas >= state.minReplicas,
                expected: "1 ≤ minReplicas ≤ maxReplicas",
                seen: self.describe(state)
            )
            try context.require(
                (state.minReplicas...state.maxReplicas).contains(state.desiredReplicas)
                    && (state.minReplicas...state.maxReplicas).contains(state.currentReplicas),
                expected: "current and desired replicas within [min, max]",
                seen: self.describe(state)
            )
            try context.require(
                !state.scaleDownDisabled,
                expected: "an autoscaler that can scale down (SPEC §7: replicas fall back after the load)",
                seen: "behavior.scaleDown.selectPolicy Disabled"
            )
        }
    }

    static var scaleUp: Check {
        self.check("HPA-SCALE-UP", "Load above the target raises desired replicas within the budget derived from the HPA spec, never above max") {
            context in
            let probe = try self.probe(context)
            let service = context.options.autoscalingService
            let initial = try await probe.autoscaler(for: service)
            await context.run.set(self.initialKey, initial)
            let options = context.options
            let budget =
                options.autoscalingSyncPeriod * 2 + .seconds(initial.scaleUpStabilizationSeconds) + .seconds(initial.scaleUpPeriodSeconds)
                + options.autoscalingMetricsLag + options.autoscalingSlack
            context.measure("initial", self.describe(initial))
            context.measure(
                "budget",
                "\(Int(budget.asSeconds)) s = 2×sync \(Int(options.autoscalingSyncPeriod.asSeconds)) s + stabilization "
                    + "\(initial.scaleUpStabilizationSeconds) s + policy period \(initial.scaleUpPeriodSeconds) s + metrics lag "
                    + "\(Int(options.autoscalingMetricsLag.asSeconds)) s + slack \(Int(options.autoscalingSlack.asSeconds)) s"
            )
            guard initial.desiredReplicas < initial.maxReplicas else {
                throw CheckFailure(expected: "room to scale up (desired below max)", seen: self.describe(initial))
            }
            let path = context.options.autoscalingPath ?? ServicePaths.readPath(for: service)
            let maxRate = options.autoscalingMaxRate ?? options.autoscalingRate * 4
            let step = options.autoscalingSyncPeriod + options.autoscalingMetricsLag
            let steps = Self.rampSteps(rate: options.autoscalingRate, maxRate: maxRate, step: step, budget: budget)
            context.note(
                "load: GET \(path) at \(Int(options.autoscalingRate)) req/s, 1.5× every \(Int(step.asSeconds)) s while desired replicas "
                    + "stay, up to \(Int(maxRate)) req/s"
            )
            let loadStart = ContinuousClock.now
            let baseURL = context.http.baseURL
            let interval = context.options.pollInterval
            let (series, peak) = try await withThrowingTaskGroup(of: ([Int], AutoscalerState?)?.self) { group in
                group.addTask {
                    // How much load drives a CPU target above it depends on the target's hardware: the load starts at
                    // the given rate and grows while the autoscaler does not answer. It ends at the budget or when the
                    // poller has its answer; its outcome does not decide the check.
                    for (rate, duration) in steps where !Task.isCancelled {
                        _ = try? await SteadyLoad(baseURL: baseURL, path: path, rate: rate, duration: duration).run()
                    }
                    return nil
                }
                group.addTask {
                    var series: [Int] = []
                    let raised = try await Polling.until(budget: budget, interval: interval) { () -> AutoscalerState? in
                        let state = try await probe.autoscaler(for: service)
                        series.append(state.desiredReplicas)
                        return state.desiredReplicas > initial.desiredReplicas ? state : nil
                    }
                    return (series, raised?.value)
                }
                var outcome: ([Int], AutoscalerState?) = ([], nil)
                while let result = try await group.next() {
                    guard let result else { continue }
                    outcome = result
                    group.cancelAll()
                }
                return outcome
            }
            context.measure("desired replicas over time", self.describe(series: series))
            try context.require(
                series.allSatisfy { $0 <= initial.maxReplicas },
                expected: "desired replicas never above max \(initial.maxReplicas)",
                seen: self.describe(series: series)
            )
            try context.require(
                zip(series, series.dropFirst()).allSatisfy { $0 <= $1 },
                expected: "desired replicas never falling while the load runs (no flapping)",
                seen: self.describe(series: series)
            )
            guard let peak else {
                throw CheckFailure(
                    expected: "desired replicas above \(initial.desiredReplicas) within \(Int(budget.asSeconds)) s",
                    seen: "stayed at \(series.last.map(String.init) ?? "?")"
                )
            }
            context.measure("raised to", "\(self.describe(peak)) under \(Int(Self.rate(at: .now - loadStart, of: steps))) req/s")
            await context.run.set(self.raisedKey, peak)
        }
    }

    /// The scale-up load's steps within `budget`: `rate` for one `step` (the time a load takes to reach the autoscaler:
    /// a sync period and the metrics lag), then 1.5× per step up to `maxRate`; the last step runs to the budget's end.
    static func rampSteps(rate: Double, maxRate: Double, step: Duration, budget: Duration) -> [(rate: Double, duration: Duration)] {
        guard step > .zero, budget > step else { return [(rate, budget)] }
        var steps: [(rate: Double, duration: Duration)] = []
        var elapsed = Duration.zero
        var current = rate
        while elapsed + step < budget, current < maxRate {
            steps.append((current, step))
            elapsed += step
            current = min(current * 1.5, maxRate)
        }
        steps.append((current, budget - elapsed))
        return steps
    }

    /// The rate of the step running `elapsed` into the load.
    static func rate(at elapsed: Duration, of steps: [(rate: Double, duration: Duration)]) -> Double {
        var end = Duration.zero
        for (rate, duration) in steps {
            end += duration
            if elapsed < end { return rate }
        }
        return steps.last?.rate ?? 0
    }

    static var scaleDown: Check {
        self.check(
            "HPA-SCALE-DOWN",
            "After the load stops, desired replicas fall back within the scale-down budget, never below min, without flapping"
        ) {
            context in
            let probe = try self.probe(context)
            let service = context.options.autoscalingService
            let current = try await probe.autoscaler(for: service)
            let initial: AutoscalerState = await context.run.value(self.initialKey) ?? current
            let target = max(initial.desiredReplicas, current.minReplicas)
            // Falling back means nothing without a rise first: that is not a pass.
            guard let raised: AutoscalerState = await context.run.value(self.raisedKey) else {
                throw CheckBlocked(
                    fixture: "HPA-SCALE-UP (load until desired replicas of \(service) rise)",
                    seen: "desired replicas never rose above \(initial.desiredReplicas) in this run, so a scale-down cannot be observed"
                )
            }
            context.note("scale-up seen: \(self.describe(raised))")
            // A disabled scale-down never falls back: no need to wait for the budget to say so.
            try context.require(
                !current.scaleDownDisabled,
                expected: "desired replicas of \(service) to fall back after the load",
                seen: "behavior.scaleDown.selectPolicy Disabled: it never scales down"
            )
            let options = context.options
            let budget =
                options.autoscalingSyncPeriod * 2 + .seconds(current.scaleDownStabilizationSeconds) + .seconds(current.scaleDownPeriodSeconds) * 2
                + options.autoscalingSlack
            context.measure(
                "budget",
                "\(Int(budget.asSeconds)) s = 2×sync \(Int(options.autoscalingSyncPeriod.asSeconds)) s + stabilization "
                    + "\(current.scaleDownStabilizationSeconds) s + 2×policy period \(current.scaleDownPeriodSeconds) s + slack "
                    + "\(Int(options.autoscalingSlack.asSeconds)) s"
            )
            var series: [Int] = [current.desiredReplicas]
            let fell = try await Polling.until(budget: budget, interval: context.options.pollInterval) { () -> Bool? in
                let state = try await probe.autoscaler(for: service)
                series.append(state.desiredReplicas)
                return state.desiredReplicas <= target ? true : nil
            }
            context.measure("desired replicas over time", self.describe(series: series))
            try context.require(
                series.allSatisfy { $0 >= current.minReplicas },
                expected: "desired replicas never below min \(current.minReplicas)",
                seen: self.describe(series: series)
            )
            try context.require(
                zip(series, series.dropFirst()).allSatisfy { $0 >= $1 },
                expected: "desired replicas never rising after the load stopped (no flapping)",
                seen: self.describe(series: series)
            )
            try context.require(
                fell != nil,
                expected: "desired replicas back to \(target) within \(Int(budget.asSeconds)) s",
                seen: "still \(series.last.map(String.init) ?? "?")"
            )
        }
    }
}
