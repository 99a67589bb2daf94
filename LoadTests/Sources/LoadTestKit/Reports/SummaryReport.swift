import Foundation

/// The plain-text summary printed at the end of a run.
public enum SummaryReport {
    /// Renders the summary table.
    public static func render(_ report: ScenarioReport) -> String {
        let result = report.result
        var lines: [String] = []
        let bound = "max \(result.maxRequests) requests"
        lines.append(
            "\(report.scenarioName): \(result.model) for \(DurationText.format(result.configuredDuration)) (\(bound)) against \(result.baseURL)"
        )
        if result.cancelled { lines.append("  the run was cancelled before it finished") }
        for step in report.setup {
            let status = step.status.map { "status \($0)" } ?? "no response"
            lines.append(
                "  setup \(step.name): \(status), \(DurationText.format(step.duration))"
                    + (step.captured.isEmpty ? "" : ", captured \(step.captured.joined(separator: ", "))")
            )
        }
        let overall = result.overall
        var rateLine =
            "  rate: \(String(format2: result.achievedRate)) req/s achieved over the \(DurationText.formatSeconds(result.sendWindow.seconds)) send window"
            + " (\(DurationText.formatSeconds(result.elapsed.seconds)) to the last response)"
        if let intended = result.intendedRate { rateLine += ", \(String(format2: intended)) req/s intended" }
        lines.append(rateLine)
        var requestLine =
            "  requests: \(result.intended) intended, \(overall.sent) sent, \(overall.completed) completed, \(overall.succeeded) ok, "
            + "\(overall.failed) failed (\(String(format2: overall.errorRate * 100))%)"
        if result.retried > 0 { requestLine += "; \(result.retried) sent again on a new connection (the server closed a reused one)" }
        lines.append(requestLine)
        if result.isOpenModel {
            lines.append(
                "  late sends: \(result.lateSends) (sent more than \(DurationText.format(result.lateSendThreshold)) after their intended time); "
                    + "max in flight \(result.maxInFlight), connections opened \(result.connectionsOpened)"
            )
        }
        lines.append("")
        let header = ["request", "count", "req/s", "err%", "p50", "p90", "p95", "p99", "p99.9", "max", "mean", "stdev"]
        var rows: [[String]] = []
        func row(_ name: String, _ request: RequestResult, corrected: Bool) -> [String] {
            let summary = corrected ? request.latency : request.serviceTime
            let rate = result.rate(of: request.completed)
            return [
                name, String(request.completed), String(format2: rate), String(format2: request.errorRate * 100),
                ms(summary.p50), ms(summary.p90), ms(summary.p95), ms(summary.p99), ms(summary.p999), ms(summary.max), ms(summary.mean),
                ms(summary.stdev),
            ]
        }
        for request in result.requests { rows.append(row(request.name, request, corrected: true)) }
        if result.requests.count > 1 { rows.append(row("all", overall, corrected: true)) }
        let title =
            result.isOpenModel
            ? "latency from the intended send time (coordinated omission corrected), ms:"
            : "latency (closed model: from the actual send), ms:"
        lines.append("  " + title)
        lines.append(contentsOf: table(header, rows).map { "    " + $0 })
        if overall.timeoutsInLatency > 0 {
            lines.append(
                "  (the latency includes \(overall.timeoutsInLatency) timed-out requests at the time they waited, at least the timeout of "
                    + "\(DurationText.format(result.requestTimeout)))"
            )
        }
        if result.isOpenModel {
            var serviceRows: [[String]] = []
            for request in result.requests { serviceRows.append(row(request.name, request, corrected: false)) }
            if result.requests.count > 1 { serviceRows.append(row("all", overall, corrected: false)) }
            lines.append("  service time from the actual send (uncorrected), ms:")
            lines.append(contentsOf: table(header, serviceRows).map { "    " + $0 })
        }
        let statuses = overall.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        lines.append("  status codes: " + (statuses.isEmpty ? "none" : statuses.joined(separator: " ")))
        let errors = RequestErrorKind.allCases.compactMap { kind in overall.errors[kind].map { "\(kind)=\($0)" } }
        lines.append("  errors: " + (errors.isEmpty ? "none" : errors.joined(separator: " ")))
        if !report.thresholds.isEmpty || !report.requestsWithoutSuccess.isEmpty {
            lines.append("  thresholds:")
            for outcome in report.thresholds {
                lines.append("    \(outcome.passed ? "PASS" : "FAIL")  \(outcome.threshold.source)  (\(outcome.explanation))")
            }
            for name in report.requestsWithoutSuccess {
                lines.append("    FAIL  request '\(name)' never succeeded")
            }
        }
        lines.append("  result: \(report.passed ? "PASS" : "FAIL")")
        return lines.joined(separator: "\n") + "\n"
    }

    static func ms(_ value: Double) -> String {
        String(format3: value)
    }

    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        return [line(header)] + rows.map(line)
    }
}

/// A one-line live progress display for terminals.
public enum ProgressLine {
    /// Renders a progress line (without a line ending).
    public static func render(_ progress: LoadProgress) -> String {
        let left = progress.remaining > .zero ? "\(DurationText.formatSeconds(progress.remaining.seconds.rounded())) left" : "draining"
        return "[\(DurationText.formatSeconds(progress.elapsed.seconds.rounded()))] \(String(format2: progress.currentRate)) req/s, "
            + "\(progress.completed) done, \(progress.failed) failed, \(progress.inFlight) in flight, "
            + "p99 \(Threshold.formatMilliseconds(progress.p99.seconds * 1000)), \(left)"
    }
}
