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

    /// The percentiles of a summary, in field order.
    static let percentiles: [Double] = [50, 90, 95, 99, 99.9]

    /// Summarises a histogram of microseconds.
    ///
    /// One walk over the recorded values gives every figure, with the library's own definitions (the mean and standard
    /// deviation of each value's median-equivalent, summed in the same order; a percentile is the highest equivalent
    /// value at which the cumulative count reaches it), so the results are the ones `mean`, `stdDeviation` and
    /// `valueAtPercentile` return. Calling those instead walks the histogram's ~22 000 counts about eight times, through
    /// generic code the library does not specialise for its callers (a third of loadtest's user time in a 3 s run).
    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        guard count > 0 else {
            (min, mean, stdev, p50, p90, p95, p99, p999, max) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
            return
        }
        // The recorded values in ascending order: the highest and the median equivalent value of each, and its count.
        var values: [(highest: UInt64, median: Double, count: UInt64)] = []
        var totalValue = 0.0
        for recorded in histogram.recordedValues() {
            let median = Double(histogram.medianEquivalentForValue(recorded.value))
            values.append((recorded.value, median, recorded.count))
            totalValue += median * Double(recorded.count)
        }
        let total = Double(count)
        let mean = totalValue / total
        var deviationTotal = 0.0
        for value in values {
            let deviation = value.median - mean
            deviationTotal += (deviation * deviation) * Double(value.count)
        }
        let lowest = histogram.min
        let highestRecorded = histogram.maxRecorded
        var atPercentile: [UInt64] = []
        var cumulative: UInt64 = 0
        var index = 0
        for percentile in Self.percentiles {
            // As the library: one ulp less, then the count rounded up, at least the first entry.
            let requested = Swift.min(Swift.max(percentile.nextDown, 0), 100)
            let countAtPercentile = Swift.max(1, UInt64((requested * total / 100).rounded(.up)))
            while cumulative < countAtPercentile, index < values.count {
                cumulative += values[index].count
                index += 1
            }
            // (Never short of the count when the histogram is consistent; the library answers 0 then.)
            atPercentile.append(
                cumulative >= countAtPercentile ? Swift.max(Swift.min(values[index - 1].highest, highestRecorded), lowest) : 0
            )
        }
        func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
        self.min = ms(lowest)
        self.mean = mean / 1000
        self.stdev = (deviationTotal / total).squareRoot() / 1000
        p50 = ms(atPercentile[0])
        p90 = ms(atPercentile[1])
        p95 = ms(atPercentile[2])
        p99 = ms(atPercentile[3])
        p999 = ms(atPercentile[4])
        self.max = ms(histogram.max)
    }

    /// The named values in report order, e.g. `("p99", 12.5)`.
    public var namedValues: [(String, Double)] {
        [("min", min), ("mean", mean), ("stdev", stdev), ("p50", p50), ("p90", p90), ("p95", p95), ("p99", p99), ("p99.9", p999), ("max", max)]
    }
}
