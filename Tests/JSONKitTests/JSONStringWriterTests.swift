import Testing

@testable import JSONKit

@Suite struct JSONStringWriterTests {
    private static func written(_ text: String) -> String {
        var output: [UInt8] = [UInt8(ascii: "[")]  // something before, so appending is what is tested
        JSON.writeString(text, into: &output)
        return String(decoding: output.dropFirst(), as: UTF8.self)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        #expect(Self.written("") == #""""#)
        #expect(Self.written("plain text") == #""plain text""#)
        #expect(Self.written(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(Self.written("\n\r\t") == #""\n\r\t""#)
        #expect(Self.written("\u{0}\u{1}\u{1F}x\u{7F}") == "\"\\u0000\\u0001\\u001fx\u{7F}\"")
        #expect(Self.written("\"") == #""\"""#)
        #expect(Self.written("ends with a quote\"") == #""ends with a quote\"""#)
        #expect(Self.written("é 😀 ü") == "\"é 😀 ü\"")
    }

    @Test func writesSubstringsAndBridgedForms() {
        let long = String(repeating: "ab\"", count: 100)
        let slice = String(long.dropFirst(3).prefix(6))
        #expect(Self.written(slice) == #""ab\"ab\"""#)
        #expect(Self.written(long).count == 2 + 400)
    }

    /// Every string of a mixed alphabet written and parsed back is itself.
    @Test func roundTripsThroughTheParser() throws {
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{8}", "\u{1F}", "é", "😀", "\u{7F}"]
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            var output: [UInt8] = []
            JSON.writeString(text, into: &output)
            #expect(try JSON.parse(output) == .string(text), "\(text.debugDescription)")
        }
    }
}
