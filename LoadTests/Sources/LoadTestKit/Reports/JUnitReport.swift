import Foundation

/// JUnit XML for CI reporters (Jenkins, GitLab, GitHub actions): one `<testsuite>` per run, one `<testcase>` per
/// threshold and per request name, measured values as `<properties>` (corrected and uncorrected latency).
public enum JUnitReport {
    /// Renders the report for a finished run.
    public static func render(_ report: ScenarioReport, hostname: String = ProcessInfo.processInfo.hostName) -> String {
        let result = report.result
        let suiteName = "loadtest.\(report.scenarioName)"
        var cases: [TestCase] = []
        for step in report.setup {
            cases.append(TestCase(className: "\(suiteName).setup", name: step.name, time: step.duration.seconds, properties: [], failure: nil))
        }
        for outcome in report.thresholds {
            var properties: [(String, String)] = [
                ("threshold", outcome.threshold.source),
                ("limit", outcome.threshold.formattedLimit),
                ("measured", outcome.measured.map { outcome.threshold.format($0) } ?? "no data"),
            ]
            if let measured = outcome.measured { properties.append(("measured_value", String(measured))) }
            let failure = outcome.passed ? nil : Failure(type: "ThresholdFailed", message: outcome.explanation, text: outcome.explanation)
            cases.append(
                TestCase(className: "\(suiteName).thresholds", name: outcome.threshold.source, time: 0, properties: properties, failure: failure)
            )
        }
        let neverSucceeded = Set(report.requestsWithoutSuccess)
        for request in result.requests {
            let properties = requestProperties(request, result: result)
            var failure: Failure?
            if neverSucceeded.contains(request.name) {
                let errors = RequestErrorKind.allCases.compactMap { kind in request.errors[kind].map { "\(kind)=\($0)" } }.joined(separator: " ")
                let statuses = request.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                failure = Failure(
                    type: "NoSuccess",
                    message: "request '\(request.name)' never succeeded (\(request.failed) failures)",
                    text: "errors: \(errors.isEmpty ? "none" : errors)\nstatus codes: \(statuses.isEmpty ? "none" : statuses)"
                )
            }
            let skipped = request.sent == 0 && request.failed == 0
            cases.append(
                TestCase(
                    className: "\(suiteName).requests",
                    name: request.name,
                    time: result.elapsed.seconds,
                    properties: properties,
                    failure: failure,
                    skipped: skipped ? "no request of this name was sent" : nil
                )
            )
        }
        var suiteProperties: [(String, String)] = [
            ("scenario", report.scenarioName),
            ("base_url", result.baseURL),
            ("model", result.model),
            ("configured_duration_s", String(result.configuredDuration.seconds)),
            ("max_requests", String(result.maxRequests)),
            ("elapsed_s", String(format3: result.elapsed.seconds)),
            ("send_window_s", String(format3: result.sendWindow.seconds)),
            ("achieved_rps", String(format2: result.achievedRate)),
            ("intended_requests", String(result.intended)),
            ("late_sends", String(result.lateSends)),
            ("connections_opened", String(result.connectionsOpened)),
            ("retried", String(result.retried)),
            ("max_in_flight", String(result.maxInFlight)),
            ("cancelled", String(result.cancelled)),
        ]
        if let intended = result.intendedRate { suiteProperties.append(("intended_rps", String(format2: intended))) }
        suiteProperties += requestProperties(result.overall, result: result).filter { $0.0 != "achieved_rps" }
        return render(
            suiteName: suiteName,
            timestamp: result.startDate,
            time: result.elapsed.seconds + report.setup.reduce(0) { $0 + $1.duration.seconds },
            hostname: hostname,
            properties: suiteProperties,
            cases: cases,
            systemOut: SummaryReport.render(report)
        )
    }

    /// Renders a report for a run whose setup failed: the setup steps, the failing one as an `<error>`.
    public static func render(
        setupFailure: SetupFailure,
        scenarioName: String,
        startDate: Date,
        hostname: String = ProcessInfo.processInfo.hostName
    )
        -> String
    {
        let suiteName = "loadtest.\(scenarioName)"
        let cases = setupFailure.steps.map { step in
            TestCase(
                className: "\(suiteName).setup",
                name: step.name,
                time: step.duration.seconds,
                properties: step.status.map { [("status", String($0))] } ?? [],
                failure: nil,
                error: step.failure.map { Failure(type: "SetupFailed", message: $0, text: $0) }
            )
        }
        return render(
            suiteName: suiteName,
            timestamp: startDate,
            time: setupFailure.steps.reduce(0) { $0 + $1.duration.seconds },
            hostname: hostname,
            properties: [("scenario", scenarioName)],
            cases: cases,
            systemOut: setupFailure.description
        )
    }

    static func requestProperties(_ request: RequestResult, result: LoadResult) -> [(String, String)] {
        var properties: [(String, String)] = [
            ("sent", String(request.sent)),
            ("completed", String(request.completed)),
            ("succeeded", String(request.succeeded)),
            ("failed", String(request.failed)),
            ("error_rate", String(format: "%.6f", request.errorRate)),
            ("achieved_rps", String(format2: result.rate(of: request.completed))),
            ("timeouts_in_latency", String(request.timeoutsInLatency)),
        ]
        for (name, value) in request.latency.namedValues { properties.append(("latency_\(name)_ms", String(format3: value))) }
        for (name, value) in request.serviceTime.namedValues { properties.append(("service_time_\(name)_ms", String(format3: value))) }
        for (status, count) in request.statusCounts.sorted(by: { $0.key < $1.key }) { properties.append(("status_\(status)", String(count))) }
        for kind in RequestErrorKind.allCases { properties.append(("errors_\(kind)", String(request.errors[kind] ?? 0))) }
        return properties
    }

    struct Failure {
        var type: String
        var message: String
        var text: String
    }

    struct TestCase {
        var className: String
        var name: String
        var time: Double
        var properties: [(String, String)]
        var failure: Failure?
        var error: Failure? = nil
        var skipped: String? = nil
    }

    static func render(
        suiteName: String,
        timestamp: Date,
        time: Double,
        hostname: String,
        properties: [(String, String)],
        cases: [TestCase],
        systemOut: String
    ) -> String {
        let failures = cases.filter { $0.failure != nil }.count
        let errors = cases.filter { $0.error != nil }.count
        let skipped = cases.filter { $0.skipped != nil }.count
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        // JUnit's schema wants a timestamp without a zone designator.
        let stamp = String(formatter.string(from: timestamp).dropLast())
        let seconds = String(format: "%.3f", time)
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuites name=\"loadtest\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(seconds)\">\n"
        xml += "  <testsuite name=\"\(escape(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" "
        xml += "skipped=\"\(skipped)\" time=\"\(seconds)\" timestamp=\"\(stamp)\" hostname=\"\(escape(hostname))\" id=\"0\" package=\"loadtest\">\n"
        xml += "    <properties>\n"
        for (name, value) in properties { xml += "      <property name=\"\(escape(name))\" value=\"\(escape(value))\"/>\n" }
        xml += "    </properties>\n"
        for testCase in cases {
            xml +=
                "    <testcase classname=\"\(escape(testCase.className))\" name=\"\(escape(testCase.name))\" time=\"\(String(format: "%.3f", testCase.time))\">\n"
            if !testCase.properties.isEmpty {
                xml += "      <properties>\n"
                for (name, value) in testCase.properties { xml += "        <property name=\"\(escape(name))\" value=\"\(escape(value))\"/>\n" }
                xml += "      </properties>\n"
            }
            if let skipped = testCase.skipped { xml += "      <skipped message=\"\(escape(skipped))\"/>\n" }
            if let failure = testCase.failure {
                xml +=
                    "      <failure message=\"\(escape(failure.message))\" type=\"\(escape(failure.type))\">\(escape(failure.text, inContent: true))</failure>\n"
            }
            if let error = testCase.error {
                xml +=
                    "      <error message=\"\(escape(error.message))\" type=\"\(escape(error.type))\">\(escape(error.text, inContent: true))</error>\n"
            }
            xml += "    </testcase>\n"
        }
        xml += "    <system-out>\(escape(systemOut, inContent: true))</system-out>\n"
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// Escapes text for XML attributes and content (``XMLText``).
    public static func escape(_ text: String, inContent: Bool = false) -> String {
        XMLText.escape(text, inContent: inContent)
    }
}
