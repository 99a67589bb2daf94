import Foundation

/// alerts: all replicas of a service stopped → `ServiceDown` fires within a budget derived from the Prometheus
/// configuration (scrape and evaluation intervals, the rule's `for`) and reaches Alertmanager, then resolves after
/// the restart; 5xx above 10 % (the gateway answering 503 for the stopped service) → `HighErrorRate` fires; no
/// unexpected critical alert.
public enum AlertsSuite {
    static let stoppedKey = "alerts.stopped"
    static let observedKey = "alerts.observed-critical"
    static let provokedKey = "alerts.provoked"

    /// The service the suite stopped.
    struct Stopped: Sendable {
        var service: String
        var jobs: Set<String>
        var instances: Set<String>
        var token: [String]
        var stoppedAt: ContinuousClock.Instant
        /// Whether ALERT-SERVICEDOWN-FIRES saw ServiceDown firing for it (its resolution means nothing otherwise).
        var fired = false
    }

    /// The budget for an alert: its `for`, two scrape and two evaluation intervals, the time the expression needs to
    /// cross its threshold (for ratios over a range window), and the slack.
    struct Budget: Sendable, CustomStringConvertible {
        var forSeconds: Double
        var scrape: Double
        var evaluation: Double
        var slack: Double
        var crossing: Double = 0

        var total: Duration {
            .milliseconds(Int64((self.forSeconds + 2 * self.scrape + 2 * self.evaluation + self.crossing + self.slack) * 1000))
        }
        var description: String {
            String(
                format: "%.0f s = for %.0f s + 2×scrape %.0f s + 2×evaluation %.0f s + threshold crossing %.0f s + slack %.0f s",
                self.total.asSeconds,
                self.forSeconds,
                self.scrape,
                self.evaluation,
                self.crossing,
                self.slack
            )
        }
    }

    public static var checks: [Check] {
        // The quiet control first: the 5xx of the checks after it stay in the rule's window for minutes.
        [self.highErrorRateQuietBelowThreshold, self.serviceDownFires, self.highErrorRateFires, self.serviceDownResolves, self.noUnexpectedCritical]
    }

    static func check(
        _ id: String,
        _ summary: String,
        requires: Set<Capability> = [.http, .prometheus, .alertmanager, .replicaControl],
        timeLimit: Duration = .seconds(600),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .alerts, summary, requires: requires, timeLimit: timeLimit, body: body)
    }

    static func clients(_ context: CheckContext) throws -> (PrometheusClient, AlertmanagerClient) {
        guard let prometheus = context.endpoints.prometheusURL, let alertmanager = context.endpoints.alertmanagerURL else {
            throw CheckSkip("no Prometheus or Alertmanager")
        }
        return (PrometheusClient(url: prometheus, driver: context.http), AlertmanagerClient(url: alertmanager, driver: context.http))
    }

    static func budget(_ context: CheckContext, alert: String) async throws -> Budget {
        let (prometheus, _) = try self.clients(context)
        guard let duration = try await prometheus.ruleDuration(alert) else {
            throw CheckFailure(expected: "an alerting rule \(alert) loaded in Prometheus (/api/v1/rules)", seen: "no such rule")
        }
        let (scrape, evaluation) = try await prometheus.intervals()
        return Budget(forSeconds: duration, scrape: scrape, evaluation: evaluation, slack: context.options.alertSlack.asSeconds)
    }

    /// Whether an alert concerns the stopped service.
    static func concerns(_ alert: ObservedAlert, _ stopped: Stopped) -> Bool {
        if let job = alert.labels["job"], stopped.jobs.contains(job) { return true }
        if let service = alert.labels["service"], stopped.jobs.contains(service) { return true }
        if let instance = alert.labels["instance"], stopped.instances.contains(instance) { return true }
        return false
    }

    /// Remembers critical alerts seen while polling, for the no-unexpected-critical check.
    static func remember(_ alerts: [ObservedAlert], _ context: CheckContext) async {
        let critical = alerts.filter { $0.severity == "critical" && $0.state == "firing" }
        guard !critical.isEmpty else { return }
        var seen: [ObservedAlert] = await context.run.value(self.observedKey) ?? []
        for alert in critical where !seen.contains(alert) { seen.append(alert) }
        await context.run.set(self.observedKey, seen)
    }

    /// Stops every replica of the alert service (once per run) and registers the restart as a clean-up.
    static func stopService(_ context: CheckContext) async throws -> Stopped {
        if let stopped: Stopped = await context.run.value(self.stoppedKey) { return stopped }
        guard let control = context.endpoints.replicaControl else { throw CheckSkip("no replica control") }
        let service = context.options.alertService
        let replicas = try await control.replicas(of: service)
        guard !replicas.isEmpty else { throw CheckFailure(expected: "replicas of \(service) to stop", seen: "none") }
        var jobs = Set(replicas.compactMap(\.serviceName))
        jobs.insert(service)
        var instances = Set(replicas.map(\.id))
        for replica in replicas {
            if let url = replica.url { instances.insert(url.replacingOccurrences(of: "http://", with: "")) }
        }
        // A ServiceDown still firing from earlier (a stop by another check, rules just reloaded) would read as this
        // stop's: wait for it to clear first.
        if let (prometheus, _) = try? self.clients(context) {
            let probe = Stopped(service: service, jobs: jobs, instances: instances, token: [], stoppedAt: .now)
            var lingering: [ObservedAlert] = []
            let clear = try await Polling.until(budget: .seconds(60), interval: .seconds(1)) { () -> Bool? in
                lingering = try await prometheus.alerts().filter { $0.name == "ServiceDown" && $0.state == "firing" && self.concerns($0, probe) }
                return lingering.isEmpty ? true : nil
            }
            guard clear != nil else {
                throw CheckBlocked(
                    fixture: "no ServiceDown firing for \(jobs.sorted()) before stopping it",
                    seen: lingering.map(\.summary).joined(separator: "; ")
                )
            }
        }
        let token = try await control.stopService(service)
        let stopped = Stopped(service: service, jobs: jobs, instances: instances, token: token, stoppedAt: .now)
        await context.run.set(self.stoppedKey, stopped)
        await context.run.set(self.provokedKey, stopped)
        await context.run.addCleanup("restore \(service)") { try? await control.restoreService(service, token: token) }
        context.note("stopped every replica of \(service): \(replicas.map(\.id).joined(separator: ", ")) (jobs \(jobs.sorted()))")
        return stopped
    }

    /// The 5xx answers of the quiet control and the healthy requests around them: a 3 % share, while an absolute
    /// count of errors (anything above a few in the window) is crossed.
    static let quietErrors = 30
    static let quietHealthy = 900

    static var highErrorRateQuietBelowThreshold: Check {
        self.check(
            "ALERT-HIGHERRORRATE-QUIET-BELOW-THRESHOLD",
            "A few 5xx among many 2xx (3 %, below the 10 % threshold) leave HighErrorRate inactive: the rule is a ratio, not a count"
        ) { context in
            let (prometheus, _) = try self.clients(context)
            guard let control = context.endpoints.replicaControl else { throw CheckSkip("no replica control") }
            let budget = try await self.budget(context, alert: "HighErrorRate")
            // The 5xx counters per (job, service) — the counters themselves, not increase(): a series the errors create
            // has no earlier sample to increase from. The errors land in the series of whatever answers them.
            let errorsQuery = #"sum by (job, service) (http_requests_total{status=~"5.."})"#
            let countersBefore = Dictionary(try await prometheus.series(errorsQuery).map { ($0.labels, $0.value) }) { first, _ in first }
            let activeBefore = try await prometheus.alerts().filter { $0.name == "HighErrorRate" }
            // Errors: the alert service stopped, its reads answered 5xx by the gateway; around them healthy reads
            // of another service, thirty times as many.
            let service = context.options.alertService
            let healthyPath = ServicePaths.readPath(for: service == "users" ? "payments-python" : "users")
            let errorPath = ServicePaths.readPath(for: service)
            // Over 5 s, so that more than one scrape falls inside the burst.
            let seconds = 5.0
            let token = try await control.stopService(service)
            await context.run.addCleanup("restore \(service) after the quiet control") {
                try? await control.restoreService(service, token: token)
            }
            let healthy = SteadyLoad(
                baseURL: context.http.baseURL,
                path: healthyPath,
                rate: Double(self.quietHealthy) / seconds,
                duration: .seconds(seconds)
            )
            let failing = SteadyLoad(
                baseURL: context.http.baseURL,
                path: errorPath,
                rate: Double(self.quietErrors) / seconds,
                duration: .seconds(seconds)
            )
            async let healthyRun = healthy.run()
            let failingSummary = try await failing.run()
            let healthySummary = try await healthyRun
            try await control.restoreService(service, token: token)
            await context.run.removeCleanups("restore \(service) after the quiet control")
            context.note("while \(service) was stopped: GET \(errorPath): \(failingSummary); GET \(healthyPath): \(healthySummary)")
            let errors = failingSummary.statuses.filter { $0.key >= 500 }.values.reduce(0, +)
            let served = healthySummary.statuses.filter { (200..<300).contains($0.key) }.values.reduce(0, +)
            guard errors >= self.quietErrors / 2, served >= 20 * errors else {
                throw CheckBlocked(
                    fixture: "\(self.quietErrors) reads of stopped \(service) answered 5xx among \(self.quietHealthy) healthy reads",
                    seen: "\(errors) answered 5xx, \(served) healthy reads answered 2xx"
                )
            }
            // The errors must have reached Prometheus, or the silence below proves nothing.
            var hit: [[String: String]] = []
            let scraped = try await Polling.until(budget: .seconds(4 * budget.scrape + budget.slack), interval: .seconds(1)) { () -> Double? in
                let increases = try await prometheus.series(errorsQuery).map { ($0.labels, $0.value - (countersBefore[$0.labels] ?? 0)) }
                hit = increases.filter { $0.1 > 0 }.map(\.0)
                let total = increases.map(\.1).filter { $0 > 0 }.reduce(0, +)
                return total >= Double(errors) / 2 ? total : nil
            }
            guard let (seenErrors, _) = scraped else {
                throw CheckBlocked(fixture: "Prometheus scraping the 5xx (\(errorsQuery))", seen: "no increase")
            }
            context.measure("5xx scraped by Prometheus", String(format: "%.0f in %@", seenErrors, hit.map(Self.seriesName).joined(separator: ", ")))
            // Only the series the errors went to: another service may carry a HighErrorRate of its own from an earlier
            // check (readiness answering 503 while its database was stopped).
            let concernsHit = { (alert: ObservedAlert) in hit.contains { series in series.allSatisfy { alert.labels[$0.key] == $0.value } } }
            if let already = activeBefore.first(where: concernsHit) {
                throw CheckBlocked(fixture: "HighErrorRate inactive for the series the errors went to", seen: "already active: \(already.summary)")
            }
            // Quiet: not even pending over two scrapes and three evaluations after the errors are in.
            var raised: [ObservedAlert] = []
            _ = try await Polling.until(budget: .seconds(2 * budget.scrape + 3 * budget.evaluation + 2), interval: .seconds(1)) { () -> Bool? in
                let alerts = try await prometheus.alerts()
                await self.remember(alerts, context)
                raised = alerts.filter { $0.name == "HighErrorRate" && concernsHit($0) }
                return raised.isEmpty ? nil : true
            }
            try context.require(
                raised.isEmpty,
                expected: "HighErrorRate neither pending nor firing for a 5xx share of about 3 %",
                seen: raised.map(\.summary).joined(separator: "; ")
            )
        }
    }

    /// `{job="…",service="…"}`.
    static func seriesName(_ labels: [String: String]) -> String {
        "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    static var serviceDownFires: Check {
        self.check(
            "ALERT-SERVICEDOWN-FIRES",
            "Stopping every replica of a service makes ServiceDown fire in Prometheus and reach Alertmanager within budget"
        ) {
            context in
            let (prometheus, alertmanager) = try self.clients(context)
            let budget = try await self.budget(context, alert: "ServiceDown")
            context.measure("budget", budget.description)
            await self.remember(try await prometheus.alerts(), context)
            let stopped = try await self.stopService(context)
            var last: [ObservedAlert] = []
            let fired = try await Polling.until(budget: budget.total, interval: .seconds(1)) { () -> ObservedAlert? in
                last = try await prometheus.alerts()
                return last.first { $0.name == "ServiceDown" && $0.state == "firing" && self.concerns($0, stopped) }
            }
            guard let (alert, _) = fired else {
                throw CheckFailure(
                    expected: "ServiceDown firing for \(stopped.jobs.sorted()) in Prometheus within \(Int(budget.total.asSeconds)) s",
                    seen: last.isEmpty ? "no alerts" : last.map(\.summary).joined(separator: "; ")
                )
            }
            var firedFor = stopped
            firedFor.fired = true
            await context.run.set(self.stoppedKey, firedFor)
            let sinceStop = ContinuousClock.now - stopped.stoppedAt
            context.measure("stop → firing in Prometheus", "\(Evidence.milliseconds(sinceStop)) ms")
            context.note("alert: \(alert.summary)")
            try context.require(alert.severity == "critical", expected: "ServiceDown with severity critical", seen: alert.severity ?? "no severity")
            var managed: [ObservedAlert] = []
            let delivered = try await Polling.until(budget: .seconds(budget.evaluation * 2 + budget.slack), interval: .seconds(1)) {
                () -> ObservedAlert? in
                managed = try await alertmanager.alerts()
                return managed.first { $0.name == "ServiceDown" && self.concerns($0, stopped) }
            }
            try context.require(
                delivered != nil,
                expected: "ServiceDown for \(stopped.jobs.sorted()) active in Alertmanager",
                seen: managed.isEmpty ? "no alerts" : managed.map(\.summary).joined(separator: "; ")
            )
            context.measure("stop → active in Alertmanager", "\(Evidence.milliseconds(ContinuousClock.now - stopped.stoppedAt)) ms")
        }
    }

    static var highErrorRateFires: Check {
        self.check("ALERT-HIGHERRORRATE-FIRES", "More than 10 % 5xx (the gateway answering 503 for a stopped service) makes HighErrorRate fire") {
            context in
            let (prometheus, alertmanager) = try self.clients(context)
            var budget = try await self.budget(context, alert: "HighErrorRate")
            // A ratio over a range window: the errors must outweigh the traffic already in the window. With a total
            // rate R over the window W and errors at E req/s, the 5xx share passes 10 % after about W·R/(9E) s.
            let window = PrometheusClient.rangeWindow(in: try await prometheus.rule("HighErrorRate")?.query ?? "") ?? 300
            let range = "\(Int(window))s"
            let current = try await prometheus.query("max(sum by (job, service) (rate(http_requests_total[\(range)])))").first ?? 0
            let rate = min(max(context.options.alertErrorRate, 2 * current + 5), 500)
            budget.crossing = window * current / (9 * rate)
            context.measure("traffic already in the \(Int(window)) s window", String(format: "%.1f req/s (busiest job)", current))
            context.measure("budget", budget.description)
            let stopped = try await self.stopService(context)
            let budgetUsed = budget
            let path = ServicePaths.readPath(for: stopped.service)
            let probe = try await context.http.get(path)
            try context.require(
                probe.status >= 500,
                expected: "GET \(path) through the gateway to answer 5xx while \(stopped.service) is stopped",
                seen: "\(probe.status)"
            )
            let load = SteadyLoad(
                baseURL: context.http.baseURL,
                path: path,
                rate: rate,
                duration: budget.total + .seconds(30)
            )
            context.note("error load: GET \(path) at \(Int(rate)) req/s")
            let started = ContinuousClock.now
            let (fired, last) = try await withThrowingTaskGroup(of: (ObservedAlert?, [ObservedAlert])?.self) { group in
                group.addTask {
                    _ = try await load.run()
                    return nil
                }
                group.addTask {
                    var last: [ObservedAlert] = []
                    let found = try await Polling.until(budget: budgetUsed.total, interval: .seconds(1)) { () -> ObservedAlert? in
                        last = try await prometheus.alerts()
                        await self.remember(last, context)
                        return last.first { $0.name == "HighErrorRate" && $0.state == "firing" }
                    }
                    return (found?.value, last)
                }
                var outcome: (ObservedAlert?, [ObservedAlert]) = (nil, [])
                while let result = try await group.next() {
                    if let result { outcome = result }
                    group.cancelAll()
                }
                return outcome
            }
            guard let fired else {
                throw CheckFailure(
                    expected: "HighErrorRate firing in Prometheus within \(Int(budget.total.asSeconds)) s of 5xx load",
                    seen: last.isEmpty ? "no alerts" : last.map(\.summary).joined(separator: "; ")
                )
            }
            context.measure("errors start → firing", "\(Evidence.milliseconds(ContinuousClock.now - started)) ms")
            context.note("alert: \(fired.summary)")
            let delivered = try await Polling.until(budget: .seconds(budget.evaluation * 2 + budget.slack), interval: .seconds(1)) { () -> Bool? in
                try await alertmanager.alerts().contains { $0.name == "HighErrorRate" } ? true : nil
            }
            try context.require(delivered != nil, expected: "HighErrorRate active in Alertmanager", seen: "not there")
        }
    }

    static var serviceDownResolves: Check {
        self.check("ALERT-SERVICEDOWN-RESOLVES", "After the service restarts, ServiceDown resolves in Prometheus and Alertmanager within budget") {
            context in
            let (prometheus, alertmanager) = try self.clients(context)
            guard let stopped: Stopped = await context.run.value(self.stoppedKey), let control = context.endpoints.replicaControl else {
                throw CheckSkip("no service was stopped by ALERT-SERVICEDOWN-FIRES in this run")
            }
            let budget = try await self.budget(context, alert: "ServiceDown")
            try await control.restoreService(stopped.service, token: stopped.token)
            await context.run.removeCleanups("restore \(stopped.service)")
            await context.run.set(self.stoppedKey, nil)
            // An alert that never fired "resolves" trivially: that is not a pass.
            guard stopped.fired else {
                throw CheckBlocked(
                    fixture: "ALERT-SERVICEDOWN-FIRES (stop \(stopped.service), wait for ServiceDown)",
                    seen: "ServiceDown never fired for \(stopped.jobs.sorted()), so its resolution cannot be observed"
                )
            }
            let restored = ContinuousClock.now
            let ready = try await Polling.until(budget: context.options.replicaReturnBudget, interval: .milliseconds(500)) { () -> Bool? in
                let replicas = try await control.replicas(of: stopped.service)
                return !replicas.isEmpty && replicas.allSatisfy(\.isReady) ? true : nil
            }
            try context.require(ready != nil, expected: "every replica of \(stopped.service) ready after the restart", seen: "not ready in time")
            let resolveBudget = Duration.seconds(2 * budget.scrape + 3 * budget.evaluation + budget.slack)
            var last: [ObservedAlert] = []
            let resolved = try await Polling.until(budget: resolveBudget, interval: .seconds(1)) { () -> Bool? in
                last = try await prometheus.alerts().filter { $0.name == "ServiceDown" && self.concerns($0, stopped) }
                return last.isEmpty ? true : nil
            }
            try context.require(
                resolved != nil,
                expected: "no ServiceDown for \(stopped.jobs.sorted()) in Prometheus within \(Int(resolveBudget.asSeconds)) s of ready",
                seen: last.map(\.summary).joined(separator: "; ")
            )
            var managed: [ObservedAlert] = []
            let cleared = try await Polling.until(budget: resolveBudget, interval: .seconds(1)) { () -> Bool? in
                managed = try await alertmanager.alerts().filter { $0.name == "ServiceDown" && self.concerns($0, stopped) }
                return managed.isEmpty ? true : nil
            }
            try context.require(
                cleared != nil,
                expected: "ServiceDown for \(stopped.jobs.sorted()) resolved in Alertmanager",
                seen: managed.map(\.summary).joined(separator: "; ")
            )
            context.measure("restart → resolved", "\(Evidence.milliseconds(ContinuousClock.now - restored)) ms")
        }
    }

    static var noUnexpectedCritical: Check {
        self.check(
            "ALERT-NO-UNEXPECTED-CRITICAL",
            "No critical alert fired during the run other than ServiceDown for the stopped service, and none is firing now",
            requires: [.http, .prometheus]
        ) { context in
            guard let url = context.endpoints.prometheusURL else { throw CheckSkip("no Prometheus") }
            let prometheus = PrometheusClient(url: url, driver: context.http)
            let now = try await prometheus.alerts(record: true)
            await self.remember(now, context)
            let seen: [ObservedAlert] = await context.run.value(self.observedKey) ?? []
            let provoked: Stopped? = await context.run.value(self.provokedKey)
            let stillStopped: Stopped? = await context.run.value(self.stoppedKey)
            var unexpected: [ObservedAlert] = []
            for alert in seen where !context.options.allowedCriticalAlerts.contains(alert.name) {
                let isProvoked = alert.name == "ServiceDown" && provoked.map { self.concerns(alert, $0) } == true
                let firingNow = now.contains { $0.name == alert.name && $0.labels == alert.labels && $0.state == "firing" }
                if !isProvoked || (firingNow && stillStopped == nil) { unexpected.append(alert) }
            }
            try context.require(
                unexpected.isEmpty,
                expected: "no critical alert besides ServiceDown of \(context.options.alertService) while it was stopped, none firing now",
                seen: unexpected.map(\.summary).joined(separator: "; ")
            )
        }
    }
}
