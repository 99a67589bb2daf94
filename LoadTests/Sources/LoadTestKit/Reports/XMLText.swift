/// The XML escaping of every JUnit (and SVG) writer here — the load generator's and the conformance suite's.
///
/// Markup characters become entities; characters XML 1.0 cannot carry at all (most control characters, surrogates,
/// U+FFFE, U+FFFF) become a visible `\u{…}`, so the document stays well-formed and still shows what a response
/// contained. In attribute values tabs and line breaks are written as character references (attribute-value
/// normalization would turn them into spaces); in element content they are kept.
public enum XMLText {
    /// - Parameters:
    ///   - text: The text.
    ///   - inContent: true for element content, false for attribute values.
    public static func escape(_ text: String, inContent: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\n": result += inContent ? "\n" : "&#10;"
            case "\t": result += inContent ? "\t" : "&#9;"
            case "\r": result += "&#13;"
            default:
                if Self.isAllowed(scalar) {
                    result.unicodeScalars.append(scalar)
                } else {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                }
            }
        }
        return result
    }

    /// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value) || (0xE000...0xFFFD).contains(value)
            || (0x10000...0x10FFFF).contains(value)
    }
}
