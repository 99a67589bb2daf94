import Foundation

/// A Markdown summary of a run: totals per suite, then failures (expected versus seen), skips with their reasons,
/// and the passed checks.
public enum MarkdownReport {
    public static func render(_ report: RunReport) -> String {
        var lines = ["# Conformance run against `\(report.targetName)`", ""]
        let verdict = report.isSuccessful ? "PASSED" : "FAILED"
        lines.append(
            "**\(verdict)** — \(report.passed) passed, \(report.failed) failed, \(report.errored) errors, \(report.skipped) skipped "
                + "(skipped checks are not passes) in \(String(format: "%.1f", report.duration.asSeconds)) s, started "
                + "\(JUnitReport.timestamp(report.startedAt))."
        )
        lines += ["", "| suite | checks | passed | failed | errors | skipped |", "|---|---:|---:|---:|---:|---:|"]
        let bySuite = Dictionary(grouping: report.results, by: \.suite)
        for suite in Suite.allCases {
            guard let results = bySuite[suite] else { continue }
            lines.append(
                "| \(suite) | \(results.count) | \(results.count { $0.status.isPassed }) | \(results.count { $0.status.isFailure }) | "
                    + "\(results.count { $0.status.isError }) | \(results.count { $0.status.isSkipped }) |"
            )
        }
        let failures = report.results.filter { $0.status.isFailure || $0.status.isError }
        let causes = self.rootCauses(failures)
        if causes.contains(where: { $0.ids.count > 1 }) {
            lines += ["", "## Failures by root cause", ""]
            for cause in causes {
                lines.append("- \(cause.ids.count) × \(self.inline(cause.message)) — \(cause.ids.joined(separator: ", "))")
            }
        }
        if !failures.isEmpty {
            lines += ["", "## Failures", ""]
            for result in failures {
                lines.append("- **\(result.id)** (\(result.suite)) — \(result.summary)")
                lines.append("  - \(result.status.label): \(self.inline(result.status.message ?? ""))")
            }
        }
        let skipped = report.results.filter(\.status.isSkipped)
        if !skipped.isEmpty {
            lines += ["", "## Skipped", ""]
            for result in skipped {
                lines.append("- **\(result.id)** (\(result.suite)): \(self.inline(result.status.message ?? ""))")
            }
        }
        let passed = report.results.filter(\.status.isPassed)
        if !passed.isEmpty {
            lines += ["", "## Passed", ""]
            for result in passed {
                lines.append("- \(result.id) — \(result.summary) (\(String(format: "%.2f", result.duration.asSeconds)) s)")
            }
        }
        if !report.notes.isEmpty {
            lines += ["", "## Notes", ""]
            lines += report.notes.map { "- \(self.inline($0))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Failed and errored checks grouped by what went wrong, most common first: one blocked fixture or one missing
    /// header shows as one line naming every check it took down, instead of burying the other defects.
    static func rootCauses(_ failures: [CheckResult]) -> [(message: String, ids: [String])] {
        var order: [String] = []
        var ids: [String: [String]] = [:]
        for result in failures {
            let message = self.cause(result.status.message ?? "")
            if ids[message] == nil { order.append(message) }
            ids[message, default: []].append(result.id)
        }
        return order.map { ($0, ids[$0] ?? []) }.sorted { $0.ids.count > $1.ids.count }
    }

    /// A message with what differs from check to check (generated names, numbers, ids) blanked out.
    static func cause(_ message: String) -> String {
        // In this order: ids and generated names before the numbers inside them.
        let patterns: [(String, String)] = [
            ("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{id}"),
            ("cf_[A-Za-z0-9]+_[A-Za-z0-9_]+", "{name}"),
            ("[0-9]+(\\.[0-9]+)?", "{n}"),
        ]
        var text = message.prefix(300).description
        for (pattern, replacement) in patterns {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    /// One line, with characters that would break a Markdown list item neutralised.
    static func inline(_ text: String) -> String {
        let single = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return single.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "<", with: "&lt;")
    }
}
