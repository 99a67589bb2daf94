import ConformanceKit
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct FrameworkTests {
    static let target = StaticTarget(
        name: "fake",
        endpoints: TargetEndpoints(baseURL: "http://127.0.0.1:9", missingReasons: [.amqpManagement: "no broker in this test"])
    )

    static let checks: [Check] = [
        Check("T-PASS", suite: .contracts, "passes") { _ in },
        Check("T-FAIL", suite: .contracts, "fails") { _ in throw CheckFailure(expected: "1 < 2 & \"quotes\"", seen: "<html>\u{1}\u{0}'</html>") },
        Check("T-SKIP-CAPABILITY", suite: .async, "needs a broker", requires: [.http, .amqpManagement]) { _ in },
        Check("T-SKIP-RUNTIME", suite: .security, "skips itself") { _ in throw CheckSkip("not applicable here") },
        Check("T-ERROR", suite: .failover, "throws") { _ in throw CocoaError(.fileNoSuchFile) },
        Check("T-TIMEOUT", suite: .alerts, "hangs", timeLimit: .milliseconds(200)) { _ in try await Task.sleep(for: .seconds(30)) },
        Check("T-EVIDENCE", suite: .contracts, "leaves evidence") { context in
            context.note("a note with \u{7} bell and invalid \u{FFFE}")
            context.measure("latency", "12 ms")
            throw CheckFailure(expected: "x", seen: "y")
        },
    ]

    static func report() async -> RunReport {
        await ConformanceRunner.run(self.checks, against: self.target)
    }

    @Test func skippedChecksCarryTheirReasonAndAreNeverPasses() async {
        let report = await Self.report()
        let byID = Dictionary(uniqueKeysWithValues: report.results.map { ($0.id, $0) })
        #expect(byID["T-PASS"]?.status == .passed)
        #expect(byID["T-SKIP-CAPABILITY"]?.status == .skipped("needs amqp-management: no broker in this test"))
        #expect(byID["T-SKIP-RUNTIME"]?.status == .skipped("not applicable here"))
        #expect(byID["TARGET-READY"]?.status == .passed)
        #expect(report.passed == 2)
        #expect(report.skipped == 2)
        #expect(report.failed == 3)
        #expect(report.errored == 1)
        #expect(!report.isSuccessful)
        let onlySkips = await ConformanceRunner.run([Self.checks[2]], against: Self.target)
        #expect(onlySkips.passed == 1 && onlySkips.skipped == 1)
    }

    @Test func failuresSayExpectedAndSeen() async {
        let report = await Self.report()
        let failure = report.results.first { $0.id == "T-FAIL" }?.status.message ?? ""
        #expect(failure == "expected 1 < 2 & \"quotes\", seen <html>\u{1}\u{0}'</html>")
        let timeout = report.results.first { $0.id == "T-TIMEOUT" }
        #expect(timeout?.status.isFailure == true)
        #expect(timeout?.status.message?.contains("within 0 s") == true || timeout?.status.message?.contains("finish within") == true)
        #expect(report.results.first { $0.id == "T-ERROR" }?.status.isError == true)
    }

    @Test func junitIsWellFormedWithOneTestcasePerCheck() async throws {
        let report = await Self.report()
        let xml = JUnitReport.render(report, hostname: "test-host")
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = JUnitCollector()
        parser.delegate = collector
        #expect(parser.parse(), "JUnit XML must parse: \(parser.parserError.map { "\($0)" } ?? "")\n\(xml)")
        #expect(collector.testcases.count == Self.checks.count + 1)
        #expect(collector.testcases.allSatisfy { !($0["classname"] ?? "").isEmpty && !($0["name"] ?? "").isEmpty })
        #expect(Set(collector.testcases.compactMap { $0["classname"] }) == ["target", "contracts", "async", "security", "failover", "alerts"])
        let root = try #require(collector.root)
        #expect(root["tests"] == "8" && root["failures"] == "3" && root["errors"] == "1" && root["skipped"] == "2")
        for suite in collector.suites {
            for attribute in ["name", "tests", "failures", "errors", "skipped", "time", "timestamp"] {
                #expect(suite[attribute] != nil, "testsuite \(suite["name"] ?? "?") lacks \(attribute)")
            }
        }
        #expect(collector.skippedMessages.contains("needs amqp-management: no broker in this test"))
        #expect(collector.failureMessages.contains { $0.hasPrefix("expected 1 < 2 & \"quotes\", seen <html>") })
        #expect(collector.systemOut.contains { $0.contains("latency: 12 ms") })
    }

    @Test func markdownSummaryListsFailuresAndSkipsWithReasons() async {
        let markdown = MarkdownReport.render(await Self.report())
        #expect(markdown.contains("**FAILED**"))
        #expect(markdown.contains("**T-SKIP-CAPABILITY** (async): needs amqp-management: no broker in this test"))
        #expect(markdown.contains("(skipped checks are not passes)"))
        #expect(markdown.contains("| contracts | 3 | 1 | 2 | 0 | 0 |"))
    }

    @Test func catalogueIDsAreUniqueAndEverySuiteHasChecks() throws {
        let all = Catalogue.all
        #expect(Set(all.map(\.id)).count == all.count)
        for suite in Suite.allCases where suite != .target { #expect(all.contains { $0.suite == suite }, "\(suite) has no checks") }
        #expect(!all.contains { $0.suite == .target || $0.id == ConformanceRunner.targetReadyID })
        #expect(all.allSatisfy { $0.requirements.contains(.http) })
        #expect(throws: CatalogueError.self) { try Catalogue.select(ids: ["NO-SUCH-CHECK"]) }
        #expect(try Catalogue.select(suites: [.failover]).allSatisfy { $0.requirements.contains(.replicaControl) })
        #expect(try Catalogue.select(suites: [.autoscaling]).allSatisfy { $0.requirements.contains(.autoscaler) })
    }

    @Test func prometheusTextCountersAreSummedWithLabelFilters() {
        let text = """
            # HELP http_requests_total Requests
            # TYPE http_requests_total counter
            http_requests_total{service="r",method="GET",route="/api/reviews/book/{book_id}",status="200"} 12
            http_requests_total{service="r",method="GET",route="/api/health/ready",status="200"} 40
            http_requests_total{service="r",method="POST",route="/a,\\"b\\"",status="500"} 3
            http_requests_total_other 99
            """
        #expect(PrometheusText.sum("http_requests_total", in: text) == 55)
        #expect(PrometheusText.sum("http_requests_total", in: text) { !($0["route"] ?? "").contains("health") } == 15)
        #expect(PrometheusText.sum("http_requests_total", in: text) { $0["route"] == "/a,\"b\"" } == 3)
    }
}

/// Collects what the JUnit tests look at.
final class JUnitCollector: NSObject, XMLParserDelegate, @unchecked Sendable {
    var root: [String: String]?
    var suites: [[String: String]] = []
    var testcases: [[String: String]] = []
    var skippedMessages: [String] = []
    var failureMessages: [String] = []
    var systemOut: [String] = []
    private var text = ""

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
    ) {
        switch elementName {
        case "testsuites": self.root = attributeDict
        case "testsuite": self.suites.append(attributeDict)
        case "testcase": self.testcases.append(attributeDict)
        case "skipped": self.skippedMessages.append(attributeDict["message"] ?? "")
        case "failure": self.failureMessages.append(attributeDict["message"] ?? "")
        default: break
        }
        self.text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        self.text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if elementName == "system-out" { self.systemOut.append(self.text) }
    }
}
