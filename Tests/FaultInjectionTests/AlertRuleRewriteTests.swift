import FaultInjection
import Testing

@Suite struct AlertRuleRewriteTests {
    static let rules = """
        groups:
          - name: bookstore.rules
            rules:
              - alert: HighErrorRate
                # a ratio
                expr: |
                  (
                      sum(rate(http_requests_total{status=~"5.."}[5m]))
                    /
                      sum(rate(http_requests_total[5m]))
                  ) > 0.1
                for: 20s
                labels:
                  severity: warning

              - alert: ServiceDown
                expr: up == 0
                for: 10s
        """

    @Test func aBlockExpressionIsReplacedAndEverythingElseKept() throws {
        let rewritten = try AlertRuleRewrite.replacingExpressions(["HighErrorRate": #"sum(increase(x{status=~"5.."}[5m])) > 5"#], in: Self.rules)
        #expect(rewritten.contains(#"        expr: 'sum(increase(x{status=~"5.."}[5m])) > 5'"#))
        #expect(!rewritten.contains("/\n"))
        #expect(rewritten.contains("        for: 20s\n        labels:\n          severity: warning"))
        #expect(rewritten.contains("      - alert: ServiceDown\n        expr: up == 0\n        for: 10s"))
    }

    @Test func aOneLineExpressionIsReplacedWithQuotesEscaped() throws {
        let rewritten = try AlertRuleRewrite.replacingExpressions(["ServiceDown": "up{job='x'} == 0"], in: Self.rules)
        #expect(rewritten.contains("      - alert: ServiceDown\n        expr: 'up{job=''x''} == 0'\n        for: 10s"))
        #expect(rewritten.contains("> 0.1\n        for: 20s"), "the other rule is untouched")
    }

    @Test func anUnknownAlertIsAnError() {
        #expect(throws: AlertRuleRewrite.MissingRule.self) { try AlertRuleRewrite.replacingExpressions(["Nope": "1"], in: Self.rules) }
    }

    @Test func noRulesLeaveTheFileAsItIs() throws {
        #expect(try AlertRuleRewrite.replacingExpressions([:], in: Self.rules) == Self.rules)
    }
}
