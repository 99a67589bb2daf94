import Foundation

/// Reads the Prometheus text exposition format, enough for counters.
public enum PrometheusText {
    /// The sum of the samples of `metric` whose labels pass `filter`.
    public static func sum(_ metric: String, in text: String, where filter: ([String: String]) -> Bool = { _ in true }) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(metric) && !line.hasPrefix("#") {
            let rest = line.dropFirst(metric.count)
            var labels: [String: String] = [:]
            var valuePart = rest
            if rest.hasPrefix("{"), let close = rest.lastIndex(of: "}") {
                labels = self.labels(String(rest[rest.index(after: rest.startIndex)..<close]))
                valuePart = rest[rest.index(after: close)...]
            } else if !rest.hasPrefix(" ") {
                continue
            }
            guard filter(labels), let value = Double(valuePart.split(separator: " ").first ?? "") else { continue }
            total += value
        }
        return total
    }

    /// One sample line: the series name, its labels and its value.
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double

        public init(name: String, labels: [String: String], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }
    }

    /// Every sample of the exposition (comments and malformed lines left out).
    public static func samples(in text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#") else { return nil }
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
            let name = String(line[..<nameEnd])
            var rest = line[nameEnd...]
            var labels: [String: String] = [:]
            if rest.hasPrefix("{"), let close = rest.lastIndex(of: "}") {
                labels = self.labels(String(rest[rest.index(after: rest.startIndex)..<close]))
                rest = rest[rest.index(after: close)...]
            }
            guard !name.isEmpty, let value = Double(rest.split(separator: " ").first ?? "") else { return nil }
            return Sample(name: name, labels: labels, value: value)
        }
    }

    /// The metric types declared by `# TYPE name type` lines.
    public static func types(in text: String) -> [String: String] {
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let words = line.split(separator: " ")
            if words.count >= 4 { types[String(words[2])] = String(words[3]) }
        }
        return types
    }

    /// What SPEC §8 requires of a service's exposition, as a list of what is missing (empty when it conforms):
    /// `http_requests_total` (counter) and `http_request_duration_seconds` (histogram: `_bucket` with `le`, `_sum`,
    /// `_count`) with the labels service, method, route and status, the process CPU and memory series, and no label
    /// value containing `rawSegment` (a path segment the caller sent: routes are templates, never raw paths).
    public static func specProblems(in text: String, rawSegment: String?) -> [String] {
        let samples = self.samples(in: text)
        let types = self.types(in: text)
        var problems: [String] = []
        let required = ["service", "method", "route", "status"]
        func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }
        if types["http_requests_total"] != "counter" { problems.append("no `# TYPE http_requests_total counter`") }
        if types["http_request_duration_seconds"] != "histogram" { problems.append("no `# TYPE http_request_duration_seconds histogram`") }
        let requests = series("http_requests_total")
        if requests.isEmpty {
            problems.append("no http_requests_total sample")
        } else if let bad = requests.first(where: { sample in required.contains { sample.labels[$0] == nil } }) {
            problems.append("http_requests_total without labels \(required.filter { bad.labels[$0] == nil }): \(bad.labels)")
        }
        let buckets = series("http_request_duration_seconds_bucket")
        if buckets.isEmpty || buckets.contains(where: { $0.labels["le"] == nil }) {
            problems.append("no http_request_duration_seconds_bucket samples with `le`")
        } else if let bad = buckets.first(where: { sample in required.contains { sample.labels[$0] == nil } }) {
            problems.append("http_request_duration_seconds_bucket without labels \(required.filter { bad.labels[$0] == nil })")
        }
        for name in [
            "http_request_duration_seconds_sum", "http_request_duration_seconds_count", "process_cpu_seconds_total", "process_resident_memory_bytes",
        ]
        where series(name).isEmpty {
            problems.append("no \(name) sample")
        }
        if let rawSegment, let leak = samples.first(where: { $0.labels.values.contains { $0.contains(rawSegment) } }) {
            problems.append("a raw path in a label (routes must be templates): \(leak.name)\(leak.labels)")
        }
        return problems
    }

    /// `a="1",b="x,y"` → labels (escaped quotes and backslashes handled).
    static func labels(_ text: String) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let name = text[index..<equals].trimmingCharacters(in: .init(charactersIn: ", "))
            var cursor = text.index(after: equals)
            guard cursor < text.endIndex, text[cursor] == "\"" else { break }
            cursor = text.index(after: cursor)
            var value = ""
            while cursor < text.endIndex, text[cursor] != "\"" {
                if text[cursor] == "\\", text.index(after: cursor) < text.endIndex {
                    cursor = text.index(after: cursor)
                    value.append(text[cursor] == "n" ? "\n" : text[cursor])
                } else {
                    value.append(text[cursor])
                }
                cursor = text.index(after: cursor)
            }
            labels[name] = value
            index = cursor < text.endIndex ? text.index(after: cursor) : cursor
        }
        return labels
    }
}
