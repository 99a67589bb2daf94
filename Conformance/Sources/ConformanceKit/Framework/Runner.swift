import Foundation

/// The results of one run, for reports.
public struct RunReport: Sendable {
    public let targetName: String
    public let startedAt: Date
    public let duration: Duration
    public let results: [CheckResult]
    /// Notes about the run itself (clean-ups performed, target details).
    public let notes: [String]

    public init(targetName: String, startedAt: Date, duration: Duration, results: [CheckResult], notes: [String] = []) {
        self.targetName = targetName
        self.startedAt = startedAt
        self.duration = duration
        self.results = results
        self.notes = notes
    }

    public var passed: Int { self.results.count { $0.status.isPassed } }
    public var failed: Int { self.results.count { $0.status.isFailure } }
    public var errored: Int { self.results.count { $0.status.isError } }
    public var skipped: Int { self.results.count { $0.status.isSkipped } }
    /// True when nothing failed or errored (skips do not fail a run, and never count as passes).
    public var isSuccessful: Bool { self.failed == 0 && self.errored == 0 }
}

/// The check ran past its time limit.
struct CheckTimeout: Error {}

/// Runs checks one after the other against a prepared target.
public enum ConformanceRunner {
    /// Runs `checks` in order; a check whose requirements the target lacks is skipped with the reason.
    ///
    /// - Parameters:
    ///   - checks: the checks, usually from ``Catalogue/select(suites:ids:)``.
    ///   - target: a prepared target.
    ///   - options: run tunables.
    ///   - progress: called after each check.
    ///   - readinessProblem: why the target did not become ready (``TargetNotReady``, or a failed preparation); the
    ///     run still goes on, `TARGET-READY` fails with it, and checks the target cannot serve at all are blocked.
    public static func run(
        _ checks: [Check],
        against target: any Target,
        options: RunOptions = RunOptions(),
        readinessProblem: String? = nil,
        progress: @Sendable (CheckResult) -> Void = { _ in }
    ) async -> RunReport {
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        let state = RunState(options: options)
        let ready = CheckResult(
            id: Self.targetReadyID,
            suite: .target,
            summary: "The target answers its health endpoints through the gateway before the checks run (bounded wait)",
            status: readinessProblem.map { .failed("expected the \(target.name) target to be ready, seen \($0)") } ?? .passed,
            duration: .zero,
            evidence: []
        )
        progress(ready)
        var results: [CheckResult] = [ready]
        for check in checks {
            let result = await self.run(check, against: target, state: state, readinessProblem: readinessProblem)
            results.append(result)
            progress(result)
        }
        let cleaned = await state.runCleanups()
        let notes = cleaned.map { "clean-up at the end of the run: \($0)" }
        return RunReport(targetName: target.name, startedAt: startedAt, duration: clock.now - start, results: results, notes: notes)
    }

    /// The id of the result the runner adds first: whether the target was ready.
    public static let targetReadyID = "TARGET-READY"

    /// Runs one check (or skips it; or, when the target never came up and the check needs it, reports it blocked).
    public static func run(_ check: Check, against target: any Target, state: RunState, readinessProblem: String? = nil) async -> CheckResult {
        let missing = check.requirements.subtracting(target.capabilities).sorted()
        if let readinessProblem, missing.contains(.http) {
            return CheckResult(
                id: check.id,
                suite: check.suite,
                summary: check.summary,
                status: .errored("blocked: \(Self.targetReadyID) failed: \(readinessProblem)"),
                duration: .zero,
                evidence: []
            )
        }
        guard missing.isEmpty else {
            let reasons = missing.map { "needs \($0): \(target.reasonMissing($0))" }
            return CheckResult(
                id: check.id,
                suite: check.suite,
                summary: check.summary,
                status: .skipped(reasons.joined(separator: "; ")),
                duration: .zero,
                evidence: []
            )
        }
        let context = CheckContext(checkID: check.id, target: target, run: state)
        let clock = ContinuousClock()
        let start = clock.now
        let status: CheckStatus
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await check.body(context) }
                group.addTask {
                    try await Task.sleep(for: check.timeLimit)
                    throw CheckTimeout()
                }
                defer { group.cancelAll() }
                try await group.next()
            }
            status = .passed
        } catch let failure as CheckFailure {
            status = .failed(failure.description)
        } catch let skip as CheckSkip {
            status = .skipped(skip.reason)
        } catch let blocked as CheckBlocked {
            status = .errored(blocked.description)
        } catch let error as HTTPTransportError {
            status = .failed("expected an HTTP response to \(error.method) \(error.url), seen \(error.message)")
        } catch is CheckTimeout {
            status = .failed("expected the check to finish within \(Int(check.timeLimit.asSeconds)) s, seen it still running")
        } catch {
            status = .errored(String(describing: error))
        }
        return CheckResult(
            id: check.id,
            suite: check.suite,
            summary: check.summary,
            status: status,
            duration: clock.now - start,
            evidence: context.evidence.entries
        )
    }
}
