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

    /// One line, with characters that would break a Markdown list item neutralised.
    static func inline(_ text: String) -> String {
        let single = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return single.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "<", with: "&lt;")
    }
}
