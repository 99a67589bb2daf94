import Foundation

/// Rewrites the expression of alerting rules in a Prometheus rules file (the layout of `k8s`'s rules and
/// `ci/render-rules`: `- alert: NAME` followed by its keys, `expr:` on one line or as a `|` block), for the alert-rule
/// faults of the cluster stage.
public enum AlertRuleRewrite {
    public struct MissingRule: Error, CustomStringConvertible {
        public let alert: String
        public var description: String { "no alerting rule \(self.alert) with an expr in the rules file" }
    }

    /// `yaml` with the `expr` of each alert in `expressions` replaced by the given PromQL (as a quoted scalar).
    /// - Throws: ``MissingRule`` when an alert or its `expr` is not there.
    public static func replacingExpressions(_ expressions: [String: String], in yaml: String) throws(MissingRule) -> String {
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (alert, expression) in expressions.sorted(by: { $0.key < $1.key }) {
            guard let start = lines.firstIndex(where: { Self.trimmed($0) == "- alert: \(alert)" }) else { throw MissingRule(alert: alert) }
            let keyIndent = Self.indent(lines[start]) + 2
            var index = start + 1
            var found = false
            while index < lines.count, Self.trimmed(lines[index]).isEmpty || Self.indent(lines[index]) >= keyIndent {
                let line = lines[index]
                if Self.indent(line) == keyIndent, Self.trimmed(line).hasPrefix("expr:") {
                    // The old value: the rest of the line, and for a block scalar the lines indented deeper.
                    var end = index + 1
                    if Self.trimmed(line).hasPrefix("expr: |") || Self.trimmed(line).hasPrefix("expr: >") {
                        while end < lines.count, Self.trimmed(lines[end]).isEmpty || Self.indent(lines[end]) > keyIndent { end += 1 }
                    }
                    let quoted = "'" + expression.replacingOccurrences(of: "'", with: "''") + "'"
                    lines.replaceSubrange(index..<end, with: [String(repeating: " ", count: keyIndent) + "expr: " + quoted])
                    found = true
                    break
                }
                index += 1
            }
            guard found else { throw MissingRule(alert: alert) }
        }
        return lines.joined(separator: "\n")
    }

    static func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }
    static func trimmed(_ line: String) -> String { line.trimmingCharacters(in: .whitespaces) }
}
