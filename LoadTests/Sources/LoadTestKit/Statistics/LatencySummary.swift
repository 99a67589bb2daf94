import Histogram

/// Latency histograms record microseconds, from 1 µs to one hour, with three significant digits.
enum LatencyHistogram {
    static let highestTrackable: UInt64 = 3_600_000_000

    static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackable, numberOfSignificantValueDigits: .three)
    }

    /// A coarser histogram for one interval of the timeline.
    static func makeCoarse() -> Histogram<UInt32> {
        Histogram<UInt32>(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackable, numberOfSignificantValueDigits: .two)
    }

    @inline(__always)
    static func microseconds(fromNanoseconds nanoseconds: UInt64) -> UInt64 {
        min(nanoseconds / 1000, highestTrackable)
    }
}

/// Summary statistics of a latency distribution, in milliseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    /// The number of recorded values.
    public var count: UInt64
    public var min: Double
    public var mean: Double
    public var stdev: Double
    public var p50: Double
    public var p90: Double
    public var p95: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    enum CodingKeys: String, CodingKey {
        case count
        case min = "min_ms"
        case mean = "mean_ms"
        case stdev = "stdev_ms"
        case p50 = "p50_ms"
        case p90 = "p90_ms"
        case p95 = "p95_ms"
        case p99 = "p99_ms"
        case p999 = "p99_9_ms"
        case max = "max_ms"
    }

    /// Summarises a histogram of microseconds.
    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        guard count > 0 else {
            (min, mean, stdev, p50, p90, p95, p99, p999, max) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
            return
        }
        func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
        min = ms(histogram.min)
        mean = histogram.mean / 1000
        stdev = histogram.stdDeviation / 1000
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p95 = ms(histogram.valueAtPercentile(95))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        max = ms(histogram.max)
    }

    /// The named values in report order, e.g. `("p99", 12.5)`.
    public var namedValues: [(String, Double)] {
        [("min", min), ("mean", mean), ("stdev", stdev), ("p50", p50), ("p90", p90), ("p95", p95), ("p99", p99), ("p99.9", p999), ("max", max)]
    }
}
