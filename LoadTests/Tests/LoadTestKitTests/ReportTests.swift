import Foundation
import Testing

@testable import LoadTestKit

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct ReportTests {
    static func report(failing: Bool) throws -> ScenarioReport {
        let result = ThresholdTests.result(latenciesMicroseconds: Array(1...1000).map { UInt64($0) * 100 }, failures: 3)
        var thresholds = [try Threshold.parse("p95<300ms").evaluate(result)]
        if failing { thresholds.append(try Threshold.parse("p99[only]<1ms").evaluate(result)) }
        let setup = [SetupStepReport(name: "log<in> & \"capture\"", status: 200, duration: .milliseconds(12), failure: nil, captured: ["token"])]
        return ScenarioReport(scenarioName: "a<b>&'c'", setup: setup, result: result, thresholds: thresholds)
    }

    func parse(_ xml: String) throws -> XMLElement {
        let document = try XMLDocument(xmlString: xml, options: [])
        return try #require(document.rootElement())
    }

    @Test func junitIsWellFormedAndCarriesTheRequiredAttributes() throws {
        let xml = JUnitReport.render(try Self.report(failing: true), hostname: "host<1>")
        let root = try parse(xml)
        #expect(root.name == "testsuites")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        let suite = try #require(suites.first)
        for attribute in ["name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname"] {
            #expect(suite.attribute(forName: attribute) != nil, "missing \(attribute)")
        }
        #expect(suite.attribute(forName: "name")?.stringValue == "loadtest.a<b>&'c'")
        #expect(suite.attribute(forName: "hostname")?.stringValue == "host<1>")
        let cases = suite.elements(forName: "testcase")
        // One setup step, two thresholds, one request name.
        #expect(cases.count == 4)
        #expect(suite.attribute(forName: "tests")?.stringValue == "4")
        #expect(suite.attribute(forName: "failures")?.stringValue == "1")
        #expect(suite.attribute(forName: "errors")?.stringValue == "0")
        let timestamp = try #require(suite.attribute(forName: "timestamp")?.stringValue)
        #expect(timestamp == "2027-01-15T08:00:00")
        #expect(Double(try #require(suite.attribute(forName: "time")?.stringValue)) != nil)
        for testCase in cases {
            #expect(testCase.attribute(forName: "classname") != nil)
            #expect(testCase.attribute(forName: "name") != nil)
            #expect(testCase.attribute(forName: "time") != nil)
        }
        let setupCase = cases[0]
        #expect(setupCase.attribute(forName: "name")?.stringValue == "log<in> & \"capture\"")
        let failed = cases.filter { !$0.elements(forName: "failure").isEmpty }
        #expect(failed.map { $0.attribute(forName: "name")?.stringValue } == ["p99[only]<1ms"])
        let failure = try #require(failed.first?.elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue?.contains("p99[only] = ") == true)
        #expect(failure.attribute(forName: "type")?.stringValue == "ThresholdFailed")

        // Measured values as properties: corrected and uncorrected, per request name.
        let requestCase = try #require(cases.last)
        #expect(requestCase.attribute(forName: "classname")?.stringValue == "loadtest.a<b>&'c'.requests")
        let properties = Dictionary(
            uniqueKeysWithValues: requestCase.elements(forName: "properties").first!.elements(forName: "property").map {
                ($0.attribute(forName: "name")!.stringValue!, $0.attribute(forName: "value")!.stringValue!)
            }
        )
        #expect(properties["latency_p99_ms"] == "99.0" || properties["latency_p99_ms"] == "99.01")
        #expect(properties["service_time_p99_ms"] != nil)
        #expect(properties["latency_p99.9_ms"] != nil)
        #expect(properties["errors_timeout"] == "3")
        #expect(properties["status_200"] == "1000")
        let thresholdCase = cases[1]
        let thresholdProperties = thresholdCase.elements(forName: "properties").first?.elements(forName: "property") ?? []
        #expect(thresholdProperties.contains { $0.attribute(forName: "name")?.stringValue == "measured" })

        let suiteProperties = try #require(suite.elements(forName: "properties").first).elements(forName: "property")
        #expect(suiteProperties.contains { $0.attribute(forName: "name")?.stringValue == "latency_p99_ms" })
        #expect(suiteProperties.contains { $0.attribute(forName: "name")?.stringValue == "service_time_p99_ms" })
        #expect(try #require(suite.elements(forName: "system-out").first).stringValue?.contains("result: FAIL") == true)
    }

    @Test func passingRunHasNoFailures() throws {
        let report = try Self.report(failing: false)
        #expect(report.passed)
        let suite = try #require(try parse(JUnitReport.render(report)).elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "failures")?.stringValue == "0")
    }

    @Test func setupFailuresBecomeErrors() throws {
        let failure = SetupFailure(steps: [
            SetupStepReport(name: "register", status: 201, duration: .milliseconds(5), failure: nil, captured: []),
            SetupStepReport(
                name: "login",
                status: 401,
                duration: .milliseconds(3),
                failure: "status 401, expected 200; body: {\"m\":\"<no>\"}",
                captured: []
            ),
        ])
        let xml = JUnitReport.render(setupFailure: failure, scenarioName: "s", startDate: Date(timeIntervalSince1970: 0))
        let suite = try #require(try parse(xml).elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "errors")?.stringValue == "1")
        #expect(suite.attribute(forName: "tests")?.stringValue == "2")
        let error = try #require(suite.elements(forName: "testcase").last?.elements(forName: "error").first)
        #expect(error.attribute(forName: "message")?.stringValue?.contains("<no>") == true)
    }

    @Test func escaping() {
        #expect(JUnitReport.escape("a<b>&\"c\"'d'") == "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;")
        #expect(JUnitReport.escape("line\nbreak") == "line&#10;break")
        #expect(JUnitReport.escape("line\nbreak", inContent: true) == "line\nbreak")
        // Characters XML 1.0 cannot carry are replaced.
        #expect(JUnitReport.escape("bell\u{07}") == "bell\\u{7}", "visible, not dropped")
    }

    @Test func jsonReportRoundTrips() throws {
        let text = try JSONReport.render(try Self.report(failing: true))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["passed"] as? Bool == false)
        let overall = try #require(object["overall"] as? [String: Any])
        let latency = try #require(overall["latency"] as? [String: Any])
        #expect(latency["p99_ms"] is Double)
        #expect((overall["service_time"] as? [String: Any])?["p99_9_ms"] is Double)
        #expect((object["thresholds"] as? [Any])?.count == 2)
    }

    @Test func hgrmIsTheStandardPercentileDistribution() throws {
        let report = try Self.report(failing: false)
        let text = HgrmReport.render(report.result.overall)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first?.contains("Value") == true && lines.first?.contains("Percentile") == true)
        #expect(lines.first?.contains("1/(1-Percentile)") == true)
        #expect(text.contains("#[Mean    ="))
        #expect(text.contains("#[Max     ="))
        #expect(text.contains("Total count    =         1000"))
        // Values in milliseconds: the median of 0.1…100 ms is ~50 ms.
        let median = try #require(lines.first { $0.contains("0.500000000000") })
        let value = try #require(Double(median.split(separator: " ").first ?? ""))
        #expect(abs(value - 50) < 0.1)
    }

    @Test func plotsAreSVG() throws {
        var result = try Self.report(failing: false).result
        result.timeline = (0..<10).map {
            TimelinePoint(offset: Double($0), interval: 1, started: 10, completed: 10, errors: 0, p50: 1, p90: 2, p99: 5, max: 9, serviceP99: 4)
        }
        for svg in [SVGPlot.latencyOverTime(result), SVGPlot.percentileCurve(result)] {
            let root = try parse(svg)
            #expect(root.name == "svg")
            #expect(svg.contains("<polyline"))
            #expect(svg.contains("test &lt;&amp;&gt; &quot;scenario&quot;"))
        }
    }
}
