import Foundation
import LoadTestKit

/// JUnit XML: one `<testsuite>` per suite, one `<testcase>` per check (classname = suite, name = check id),
/// `<failure message="expected … seen …">`, `<skipped message="reason">`, `<error>` for harness errors, and the
/// evidence (requests, responses, timings) in `<system-out>`.
public enum JUnitReport {
    public static func render(_ report: RunReport, hostname: String = ProcessInfo.processInfo.hostName) -> String {
        var lines = [#"<?xml version="1.0" encoding="UTF-8"?>"#]
        lines.append(
            "<testsuites name=\"conformance\" tests=\"\(report.results.count)\" failures=\"\(report.failed)\" errors=\"\(report.errored)\" "
                + "skipped=\"\(report.skipped)\" time=\"\(self.seconds(report.duration))\" timestamp=\"\(self.timestamp(report.startedAt))\">"
        )
        let bySuite = Dictionary(grouping: report.results, by: \.suite)
        var offset = Duration.zero
        for suite in Suite.allCases {
            guard let results = bySuite[suite], !results.isEmpty else { continue }
            let time = results.reduce(Duration.zero) { $0 + $1.duration }
            let failures = results.count { $0.status.isFailure }
            let errors = results.count { $0.status.isError }
            let skipped = results.count { $0.status.isSkipped }
            lines.append(
                "  <testsuite name=\"\(XMLText.escape(suite.rawValue))\" tests=\"\(results.count)\" failures=\"\(failures)\" "
                    + "errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(self.seconds(time))\" "
                    + "timestamp=\"\(self.timestamp(report.startedAt.addingTimeInterval(offset.asSeconds)))\" "
                    + "hostname=\"\(XMLText.escape(hostname))\">"
            )
            offset += time
            lines.append("    <properties>")
            lines.append("      <property name=\"target\" value=\"\(XMLText.escape(report.targetName))\"/>")
            lines.append("    </properties>")
            for result in results { lines.append(contentsOf: self.testCase(result)) }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    static func testCase(_ result: CheckResult) -> [String] {
        var lines = [
            "    <testcase classname=\"\(XMLText.escape(result.suite.rawValue))\" name=\"\(XMLText.escape(result.id))\" "
                + "time=\"\(self.seconds(result.duration))\">"
        ]
        switch result.status {
        case .passed:
            break
        case .failed(let message):
            lines.append(
                "      <failure message=\"\(XMLText.escape(message))\" type=\"ConformanceFailure\">\(XMLText.escape(message, inContent: true))</failure>"
            )
        case .skipped(let reason):
            lines.append("      <skipped message=\"\(XMLText.escape(reason))\"/>")
        case .errored(let message):
            lines.append(
                "      <error message=\"\(XMLText.escape(message))\" type=\"HarnessError\">\(XMLText.escape(message, inContent: true))</error>"
            )
        }
        var output = [result.summary]
        output += result.evidence.map(\.text)
        lines.append("      <system-out>\(XMLText.escape(output.joined(separator: "\n\n"), inContent: true))</system-out>")
        lines.append("    </testcase>")
        return lines
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.asSeconds)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
