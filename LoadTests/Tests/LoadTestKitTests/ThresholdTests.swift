import Foundation
import Histogram
import Testing

@testable import LoadTestKit

@Suite struct ThresholdTests {
    @Test(arguments: [
        ("p95<300ms", Threshold.Metric.percentile(95, corrected: true), Threshold.Comparison.less, 0.3),
        ("p99 < 1s", .percentile(99, corrected: true), .less, 1),
        ("p99.9<=2.5s", .percentile(99.9, corrected: true), .lessOrEqual, 2.5),
        ("p(99.99)<800us", .percentile(99.99, corrected: true), .less, 0.0008),
        ("service_p99<50ms", .percentile(99, corrected: false), .less, 0.05),
        ("max<2m", .max(corrected: true), .less, 120),
        ("mean<20ms", .mean(corrected: true), .less, 0.02),
        ("error_rate<1%", .errorRate, .less, 0.01),
        ("error_rate <= 0.05", .errorRate, .lessOrEqual, 0.05),
        ("rps>500", .rps, .greater, 500),
        ("rps >= 99.5", .rps, .greaterOrEqual, 99.5),
        ("requests>=40", .requests, .greaterOrEqual, 40),
        ("late_sends<10", .lateSends, .less, 10),
    ])
    func parsesValidThresholds(text: String, metric: Threshold.Metric, comparison: Threshold.Comparison, limit: Double) throws {
        let threshold = try Threshold.parse(text)
        #expect(threshold.metric == metric)
        #expect(threshold.comparison == comparison)
        #expect(abs(threshold.limit - limit) < 1e-12)
        #expect(threshold.requestName == nil)
    }

    @Test func parsesARequestScope() throws {
        let threshold = try Threshold.parse("p95[browse reviews]<300ms")
        #expect(threshold.requestName == "browse reviews")
        #expect(threshold.metric == .percentile(95, corrected: true))
    }

    @Test(arguments: [
        ("", "empty threshold"),
        ("p95", "no comparison operator"),
        ("p95=300ms", "unsupported operator"),
        ("p95!=300ms", "unsupported operator"),
        ("<300ms", "no metric"),
        ("latency<300ms", "unknown metric 'latency'"),
        ("p95x<300ms", "unknown metric"),
        ("p0<1s", "outside 0 < p <= 100"),
        ("p101<1s", "outside 0 < p <= 100"),
        ("p95<300", "needs a unit"),
        ("p95<300parsecs", "unknown time unit"),
        ("p95<", "no value"),
        ("p95<fast", "is not a number"),
        ("error_rate<1ms", "a rate is a fraction"),
        ("rps>5%", "plain number"),
        ("requests>10s", "takes no unit"),
        ("service_rps>10", "unknown metric"),
        ("p95[<300ms", "'[' without ']'"),
        ("p95[]<300ms", "empty request name"),
        ("p95<-1ms", "must not be negative"),
        ("late_sends[a]<1", "whole run"),
    ])
    func rejectsInvalidThresholds(text: String, reason: String) {
        #expect {
            _ = try Threshold.parse(text)
        } throws: { error in
            guard let error = error as? ThresholdParseError else { return false }
            return error.reason.contains(reason) && error.description.contains("invalid threshold")
        }
    }

    @Test func evaluatesAgainstAResult() throws {
        let result = Self.result(latenciesMicroseconds: Array(1...1000).map { UInt64($0) * 1000 }, failures: 10)
        let passing = try Threshold.parse("p95<960ms").evaluate(result)
        #expect(passing.passed)
        #expect(abs((passing.measured ?? 0) - 0.95) < 0.001)
        let failing = try Threshold.parse("p99<900ms").evaluate(result)
        #expect(!failing.passed)
        #expect(failing.explanation.contains("p99 = "))
        let errorRate = try Threshold.parse("error_rate<1%").evaluate(result)
        // 10 failures of 1010 attempts.
        #expect(abs((errorRate.measured ?? 0) - 10.0 / 1010) < 1e-12)
        #expect(errorRate.passed)
        #expect(try Threshold.parse("rps>=100").evaluate(result).passed)
        #expect(try !Threshold.parse("rps>101").evaluate(result).passed)
        #expect(try Threshold.parse("p99[only]<2s").evaluate(result).passed)
    }

    @Test func noDataFailsInsteadOfPassing() throws {
        let result = Self.result(latenciesMicroseconds: [], failures: 5)
        let outcome = try Threshold.parse("p99<1s").evaluate(result)
        #expect(outcome.measured == nil)
        #expect(!outcome.passed)
        #expect(try !Threshold.parse("p99[missing]<1s").evaluate(result).passed)
    }

    /// A result with one request name, "only", over 10 s.
    static func result(latenciesMicroseconds: [UInt64], failures: UInt64) -> LoadResult {
        var request = RequestResult(name: "only")
        for value in latenciesMicroseconds {
            request.latencyHistogram.record(value)
            request.serviceTimeHistogram.record(value / 2)
        }
        request.sent = UInt64(latenciesMicroseconds.count) + failures
        request.completed = UInt64(latenciesMicroseconds.count)
        request.succeeded = UInt64(latenciesMicroseconds.count)
        if failures > 0 { request.errors[.timeout] = failures }
        request.statusCounts = latenciesMicroseconds.isEmpty ? [:] : [200: UInt64(latenciesMicroseconds.count)]
        var overall = RequestResult(name: "all")
        overall.add(request)
        return LoadResult(
            name: "test <&> \"scenario\"",
            model: "open model, 100 req/s",
            isOpenModel: true,
            baseURL: "http://127.0.0.1:1",
            startDate: .init(timeIntervalSince1970: 1_800_000_000),
            configuredDuration: .seconds(10),
            maxRequests: 10_000,
            elapsed: .seconds(10),
            sendWindow: .seconds(10),
            requestTimeout: .seconds(5),
            intended: request.sent,
            intendedRate: 100,
            lateSends: 0,
            lateSendThreshold: .milliseconds(5),
            connectionsOpened: 1,
            maxInFlight: 1,
            bytesReceived: 0,
            cancelled: false,
            overall: overall,
            requests: [request],
            timeline: [],
            outcomes: nil,
            variableNames: []
        )
    }
}
