import Foundation

/// Internals an error body must never show (SPEC §3): HTML error pages, stack traces and exception names of the
/// usual server stacks (Java, Python, Node, Go, Swift, .NET), and database driver errors.
public enum LeakMarkers {
    /// (what, pattern): case-insensitive regular expressions.
    static let patterns: [(String, String)] = [
        ("an HTML page", #"<html|<!doctype html"#),
        ("a Java stack frame", #"\bat [a-z_$][\w$]*(\.[\w$]+)+\([\w$]+\.java(:\d+)?\)"#),
        ("a Java exception", #"\b(java|javax|jakarta|org\.springframework|org\.hibernate)\.[\w.]*(exception|error)\b|exception in thread"#),
        ("a Python traceback", #"traceback \(most recent call last\)|file "[^"]+\.py", line \d+"#),
        (
            "a Python exception",
            #"\b(valueerror|keyerror|typeerror|attributeerror|indexerror|zerodivisionerror|nameerror|jsondecodeerror)\b|invalid literal for int\(\) with base"#
        ),
        ("a Node stack frame", #"\bat [\w.<>$]+ \(?(/|[a-z]:\\)[^)\s]+\.(m|c)?js:\d+:\d+\)?|node_modules/|unhandledpromiserejection"#),
        ("a Go panic", #"goroutine \d+ \[|\bpanic: |\.go:\d+|runtime error:"#),
        ("a Swift crash", #"fatal error|\.swift:\d+|swift/|thread \d+ crashed"#),
        ("a .NET exception", #"\bsystem\.[\w.]*exception\b|\.cs:line \d+"#),
        (
            "a database error",
            #"psqlerror|sqlstate|syntax error at or near|duplicate key value violates|\be11000\b|mongoc|mongoerror|pymongo|sqlalchemy|jdbc"#
        ),
    ]

    static let compiled: [(String, NSRegularExpression)] = patterns.compactMap { name, pattern in
        (try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive])).map { (name, $0) }
    }

    /// What the body leaks (`a Java stack frame 'at com.x.Y.z(Y.java:57)'`), or nil.
    public static func find(in body: some Collection<UInt8>) -> String? {
        let text = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        let range = NSRange(text.startIndex..., in: text)
        for (name, regex) in self.compiled {
            if let match = regex.firstMatch(in: text, range: range), let found = Range(match.range, in: text) {
                return "\(name) '\(text[found].prefix(60))'"
            }
        }
        return nil
    }
}
