import Foundation
import Histogram
import Testing

@testable import LoadTestKit

/// Statistics against distributions whose percentiles, mean and deviation are known exactly.
@Suite struct StatisticsTests {
    /// Uniform 1…10 000 µs, each value once: the q-quantile is ⌈q·N⌉ µs, mean (N+1)/2, σ = √((N²−1)/12).
    @Test func uniformDistribution() {
        var histogram = LatencyHistogram.make()
        for value in 1...10_000 { histogram.record(UInt64(value)) }
        let summary = LatencySummary(histogram)
        #expect(summary.count == 10_000)
        // Three significant digits: values are exact to 0.1 %.
        #expect(abs(summary.p50 - 5.0) <= 0.005)
        #expect(abs(summary.p90 - 9.0) <= 0.009)
        #expect(abs(summary.p95 - 9.5) <= 0.0095)
        #expect(abs(summary.p99 - 9.9) <= 0.0099)
        #expect(abs(summary.p999 - 9.99) <= 0.01)
        #expect(abs(summary.max - 10.0) <= 0.01)
        #expect(abs(summary.min - 0.001) < 1e-9)
        #expect(abs(summary.mean - 5.0005) <= 0.005)
        let sigma = (Double(10_000 * 10_000 - 1) / 12).squareRoot() / 1000
        #expect(abs(summary.stdev - sigma) <= sigma * 0.002)
    }

    /// A bimodal distribution (99 % fast, 1 % slow): the percentiles jump exactly where the modes meet.
    @Test func bimodalDistribution() {
        var histogram = LatencyHistogram.make()
        histogram.record(1_000, count: 9_900)
        histogram.record(500_000, count: 100)
        let summary = LatencySummary(histogram)
        #expect(abs(summary.p50 - 1) <= 0.001)
        #expect(abs(summary.p99 - 1) <= 0.001)
        #expect(abs(summary.p999 - 500) <= 0.5)
        #expect(abs(summary.mean - (0.99 * 1 + 0.01 * 500)) <= 0.01)
        // σ of a two-point distribution: |a−b|·√(p(1−p)).
        let sigma = 499 * (0.01 * 0.99).squareRoot()
        #expect(abs(summary.stdev - sigma) <= sigma * 0.002)
    }

    /// Exponential with mean 10 ms (inverse-CDF samples at evenly spaced quantiles): pq = −μ·ln(1−q).
    @Test func exponentialDistribution() {
        var histogram = LatencyHistogram.make()
        let mean = 10_000.0
        let count = 100_000
        for index in 0..<count {
            let quantile = (Double(index) + 0.5) / Double(count)
            histogram.record(UInt64((-mean * log(1 - quantile)).rounded()))
        }
        let summary = LatencySummary(histogram)
        for (quantile, measured) in [(0.5, summary.p50), (0.9, summary.p90), (0.99, summary.p99), (0.999, summary.p999)] {
            let expected = -mean * log(1 - quantile) / 1000
            #expect(abs(measured - expected) <= expected * 0.002, "p\(quantile * 100): \(measured) vs \(expected)")
        }
        #expect(abs(summary.mean - 10) <= 0.02)
        #expect(abs(summary.stdev - 10) <= 0.1)
    }

    /// The one-walk summary gives exactly what the histogram library's own mean, standard deviation, percentiles, min
    /// and max give (bit for bit), on distributions of several shapes.
    @Test(arguments: [
        "uniform", "single", "bimodal", "heavy tail", "with zero", "extremes",
    ])
    func summaryEqualsTheLibrarysFigures(shape: String) {
        var histogram = LatencyHistogram.make()
        var random = SplitMix(seed: 42)
        switch shape {
        case "uniform": for value in 1...5_000 { histogram.record(UInt64(value)) }
        case "single": histogram.record(1_234)
        case "bimodal":
            for _ in 0..<9_900 { histogram.record(200 + random.next() % 50) }
            for _ in 0..<100 { histogram.record(50_000 + random.next() % 5_000) }
        case "heavy tail":
            for _ in 0..<20_000 { histogram.record(UInt64(exp(Double(random.next() % 1_000) / 70))) }
        case "with zero":
            for value in 0..<300 { histogram.record(UInt64(value % 7)) }
        default:
            histogram.record(1)
            histogram.record(LatencyHistogram.highestTrackable)
            histogram.record(LatencyHistogram.highestTrackable / 3, count: 5)
        }
        let summary = LatencySummary(histogram)
        #expect(summary.count == histogram.totalCount)
        #expect(summary.mean == histogram.mean / 1000)
        #expect(summary.stdev == histogram.stdDeviation / 1000)
        #expect(summary.min == Double(histogram.min) / 1000)
        #expect(summary.max == Double(histogram.max) / 1000)
        let percentiles = [summary.p50, summary.p90, summary.p95, summary.p99, summary.p999]
        #expect(percentiles == [50, 90, 95, 99, 99.9].map { Double(histogram.valueAtPercentile($0)) / 1000 })
    }

    @Test func mergingPerLoopResultsEqualsRecordingTogether() {
        var together = RequestResult(name: "all")
        var first = RequestRecorder()
        var second = RequestRecorder()
        for value in 1...1_000 {
            together.latencyHistogram.record(UInt64(value))
            if value % 2 == 0 { first.latency.record(UInt64(value)) } else { second.latency.record(UInt64(value)) }
        }
        first.countStatus(200)
        second.countStatus(200)
        second.countStatus(503)
        first.add(second)
        let merged = first.result(name: "all")
        #expect(merged.latencyHistogram.totalCount == 1_000)
        #expect(merged.latency == LatencySummary(together.latencyHistogram))
        #expect(merged.statusCounts == [200: 2, 503: 1])
    }

    @Test func errorRateCountsUnexpectedStatusesAndTransportErrors() {
        var request = RequestResult(name: "x")
        request.succeeded = 97
        request.errors = [.unexpectedStatus: 2, .timeout: 1]
        #expect(request.failed == 3)
        #expect(abs(request.errorRate - 0.03) < 1e-12)
        #expect(RequestResult(name: "empty").errorRate == 0)
    }

    @Test func arrivalScheduleForAConstantRate() {
        let schedule = ArrivalSchedule(rate: .constant(50), duration: .seconds(20))
        #expect(schedule.totalArrivals == 1000)
        var segment = 0
        #expect(schedule.offset(of: 0, segment: &segment) == 0)
        #expect(schedule.offset(of: 1, segment: &segment) == 20_000_000)
        #expect(schedule.offset(of: 999, segment: &segment) == 19_980_000_000)
        // A rate that does not divide the duration: arrivals strictly inside it.
        #expect(ArrivalSchedule(rate: .constant(3), duration: .milliseconds(1500)).totalArrivals == 5)
    }

    @Test func arrivalScheduleForSteppedRates() {
        let rate = ArrivalRate.stepped([
            .init(rate: 10, duration: .seconds(2)), .init(rate: 0, duration: .seconds(1)), .init(rate: 100, duration: .seconds(1)),
        ])
        let schedule = ArrivalSchedule(rate: rate, duration: .seconds(10))
        #expect(schedule.totalArrivals == 20 + 100)
        #expect(schedule.lengthNanoseconds == 4e9)
        var segment = 0
        #expect(schedule.offset(of: 19, segment: &segment) == 1_900_000_000)
        #expect(schedule.offset(of: 20, segment: &segment) == 3_000_000_000)
        #expect(schedule.offset(of: 21, segment: &segment) == 3_010_000_000)
        // The duration cuts the stages.
        #expect(ArrivalSchedule(rate: rate, duration: .seconds(1)).totalArrivals == 10)
    }

    @Test func timelineBucketsByOffset() {
        var timeline = TimelineRecorder(intervalNanoseconds: 100_000_000, maximumBuckets: 5)
        #expect(timeline.index(forOffset: 0) == 0)
        #expect(timeline.index(forOffset: 250_000_000) == 2)
        #expect(timeline.index(forOffset: 10_000_000_000) == 4)
        #expect(timeline.buckets.count == 5)
    }
}

/// A small deterministic generator for test distributions.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
