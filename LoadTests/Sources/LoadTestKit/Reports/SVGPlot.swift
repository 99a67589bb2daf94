import Foundation
import Histogram

/// SVG charts of a run: latency over time and the percentile curve.
public enum SVGPlot {
    /// A line of points.
    struct Series {
        var label: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    /// Latency percentiles per timeline interval (top) and completed requests per second (bottom).
    public static func latencyOverTime(_ result: LoadResult) -> String {
        let timeline = result.timeline
        func series(_ label: String, _ color: String, dashed: Bool = false, _ value: (TimelinePoint) -> Double) -> Series {
            Series(
                label: label,
                color: color,
                points: timeline.filter { $0.started > 0 }.map { ($0.offset + $0.interval / 2, max(value($0), 0.001)) },
                dashed: dashed
            )
        }
        let latencySeries = [
            series("p50", "#1f77b4") { $0.p50 },
            series("p90", "#2ca02c") { $0.p90 },
            series("p99", "#ff7f0e") { $0.p99 },
            series("service p99 (uncorrected)", "#7f7f7f", dashed: true) { $0.serviceP99 },
            series("max", "#d62728") { $0.max },
        ]
        let rateSeries = Series(
            label: "completed req/s",
            color: "#9467bd",
            points: timeline.map { ($0.offset + $0.interval / 2, Double($0.completed) / $0.interval) }
        )
        let width = 900.0
        var svg = header(width: width, height: 620)
        let subtitle = result.isOpenModel ? "latency from the intended send time (coordinated omission corrected)" : "latency (closed model)"
        svg += text(x: width / 2, y: 24, "\(result.name): latency over time", size: 16, anchor: "middle", bold: true)
        svg += text(x: width / 2, y: 42, subtitle + " — \(result.model)", size: 12, anchor: "middle")
        let maxX = max(timeline.last.map { $0.offset + $0.interval } ?? 1, 0.001)
        svg += chart(
            series: latencySeries,
            frame: (x: 70, y: 60, width: width - 100, height: 330),
            xRange: 0...maxX,
            xLabel: "time since start (s)",
            yLabel: "latency (ms)",
            logY: true,
            xTicks: linearTicks(0...maxX).map { ($0, number($0)) }
        )
        svg += chart(
            series: [rateSeries],
            frame: (x: 70, y: 450, width: width - 100, height: 120),
            xRange: 0...maxX,
            xLabel: "time since start (s)",
            yLabel: "req/s",
            logY: false,
            xTicks: linearTicks(0...maxX).map { ($0, number($0)) }
        )
        return svg + "</svg>\n"
    }

    /// The percentile distribution: latency against percentile on a `1/(1-p)` axis, corrected and uncorrected.
    public static func percentileCurve(_ result: LoadResult) -> String {
        func curve(_ histogram: Histogram<UInt64>, _ label: String, _ color: String, dashed: Bool) -> Series {
            var points: [(x: Double, y: Double)] = []
            if histogram.totalCount > 0 {
                for value in histogram.percentiles(ticksPerHalfDistance: 5) {
                    let percentile = value.percentileLevelIteratedTo
                    guard percentile < 100 else { break }
                    points.append((log10(1 / (1 - percentile / 100)), Double(value.value) / 1000))
                }
                let last = points.last?.x ?? 0
                points.append((max(last, 1) + 0.3, Double(histogram.max) / 1000))
            }
            return Series(label: label, color: color, points: points, dashed: dashed)
        }
        let overall = result.overall
        var series = [curve(overall.latencyHistogram, result.isOpenModel ? "corrected (from intended send)" : "latency", "#d62728", dashed: false)]
        if result.isOpenModel {
            series.append(curve(overall.serviceTimeHistogram, "service time (uncorrected)", "#7f7f7f", dashed: true))
        }
        let maxX = max(2, series.flatMap(\.points).map(\.x).max() ?? 2)
        let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        let ticks = labels.enumerated().filter { Double($0.offset) <= maxX }.map { (Double($0.offset), $0.element) }
        let width = 900.0
        var svg = header(width: width, height: 480)
        svg += text(x: width / 2, y: 24, "\(result.name): latency by percentile", size: 16, anchor: "middle", bold: true)
        svg += text(x: width / 2, y: 42, "\(overall.latencyHistogram.totalCount) responses — \(result.model)", size: 12, anchor: "middle")
        svg += chart(
            series: series,
            frame: (x: 70, y: 60, width: width - 100, height: 360),
            xRange: 0...maxX,
            xLabel: "percentile",
            yLabel: "latency (ms)",
            logY: false,
            xTicks: ticks
        )
        return svg + "</svg>\n"
    }

    // MARK: Drawing

    private static func header(width: Double, height: Double) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    }

    private static func text(
        x: Double,
        y: Double,
        _ content: String,
        size: Int = 11,
        anchor: String = "start",
        bold: Bool = false,
        rotate: Bool = false
    )
        -> String
    {
        let transform = rotate ? " transform=\"rotate(-90 \(fmt(x)) \(fmt(y)))\"" : ""
        let weight = bold ? " font-weight=\"bold\"" : ""
        return "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(weight)\(transform)>"
            + "\(JUnitReport.escape(content))</text>\n"
    }

    private static func chart(
        series: [Series],
        frame: (x: Double, y: Double, width: Double, height: Double),
        xRange: ClosedRange<Double>,
        xLabel: String,
        yLabel: String,
        logY: Bool,
        xTicks: [(Double, String)]
    ) -> String {
        let values = series.flatMap(\.points).map(\.y)
        let rawMax = max(values.max() ?? 1, logY ? 0.01 : 1)
        let rawMin = logY ? max(values.filter { $0 > 0 }.min() ?? 0.01, 0.001) : 0
        let useLog = logY && rawMax / rawMin > 20
        let yTicks: [Double]
        let yMin: Double
        let yMax: Double
        if useLog {
            yMin = pow(10, floor(log10(rawMin)))
            yMax = pow(10, ceil(log10(rawMax)))
            yTicks = stride(from: log10(yMin), through: log10(yMax), by: 1).map { pow(10, $0) }
        } else {
            let ticks = linearTicks(0...rawMax)
            yMin = 0
            yMax = max(ticks.last ?? rawMax, rawMax)
            yTicks = ticks
        }
        func px(_ x: Double) -> Double {
            let span = xRange.upperBound - xRange.lowerBound
            return frame.x + (span > 0 ? (x - xRange.lowerBound) / span : 0) * frame.width
        }
        func py(_ y: Double) -> Double {
            let fraction: Double
            if useLog {
                fraction = (log10(max(y, yMin)) - log10(yMin)) / (log10(yMax) - log10(yMin))
            } else {
                fraction = yMax > yMin ? (y - yMin) / (yMax - yMin) : 0
            }
            return frame.y + frame.height - min(max(fraction, 0), 1) * frame.height
        }
        var svg = "<g>\n"
        svg += "<rect x=\"\(fmt(frame.x))\" y=\"\(fmt(frame.y))\" width=\"\(fmt(frame.width))\" height=\"\(fmt(frame.height))\" "
        svg += "fill=\"none\" stroke=\"#444\"/>\n"
        for tick in yTicks {
            let y = py(tick)
            svg += "<line x1=\"\(fmt(frame.x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(frame.x + frame.width))\" y2=\"\(fmt(y))\" stroke=\"#ddd\"/>\n"
            svg += text(x: frame.x - 6, y: y + 4, number(tick), size: 10, anchor: "end")
        }
        for (value, label) in xTicks {
            let x = px(value)
            svg += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(frame.y))\" x2=\"\(fmt(x))\" y2=\"\(fmt(frame.y + frame.height))\" stroke=\"#eee\"/>\n"
            svg += text(x: x, y: frame.y + frame.height + 14, label, size: 10, anchor: "middle")
        }
        svg += text(x: frame.x + frame.width / 2, y: frame.y + frame.height + 30, xLabel, size: 11, anchor: "middle")
        svg += text(x: frame.x - 52, y: frame.y + frame.height / 2, yLabel, size: 11, anchor: "middle", rotate: true)
        // Draw the last legend entry first, so the first ones (p50, p99) stay visible on top of max.
        for item in series.reversed() where !item.points.isEmpty {
            let path = item.points.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            let dash = item.dashed ? " stroke-dasharray=\"5,4\"" : ""
            svg += "<polyline fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"1.6\"\(dash) points=\"\(path)\"/>\n"
        }
        var legendX = frame.x + 8
        for item in series {
            let dash = item.dashed ? " stroke-dasharray=\"5,4\"" : ""
            svg += "<line x1=\"\(fmt(legendX))\" y1=\"\(fmt(frame.y + 12))\" x2=\"\(fmt(legendX + 18))\" y2=\"\(fmt(frame.y + 12))\" "
            svg += "stroke=\"\(item.color)\" stroke-width=\"2\"\(dash)/>\n"
            svg += text(x: legendX + 22, y: frame.y + 16, item.label, size: 10)
            legendX += 30 + Double(item.label.count) * 5.8
        }
        return svg + "</g>\n"
    }

    static func linearTicks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0 else { return [range.lowerBound] }
        let rough = span / 6
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? magnitude * 10
        var ticks: [Double] = []
        var value = (range.lowerBound / step).rounded(.down) * step
        while value <= range.upperBound + step * 0.999 {
            if value >= range.lowerBound - 1e-9 { ticks.append(value) }
            value += step
        }
        return ticks
    }

    static func number(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 100 || value == value.rounded() { return String(Int(value.rounded())) }
        if abs(value) >= 1 { return String(format: "%.1f", value) }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    private static func fmt(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
