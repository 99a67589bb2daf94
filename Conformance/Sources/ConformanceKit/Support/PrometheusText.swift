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
