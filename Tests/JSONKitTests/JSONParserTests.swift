import Testing

@testable import JSONKit

@Suite struct JSONParserTests {
    @Test func parsesEveryValueKindAndKeepsNumberLiterals() throws {
        let value = try JSON.parse(#"{"a": [1, -2.50, 1e3, true, false, null], "b": "x\"\n\u00e9\ud83d\ude00", "c": {}}"#)
        #expect(value["a"] == [1, .number("-2.50"), .number("1e3"), true, false, nil])
        #expect(value["b"] == .string("x\"\né😀"))
        #expect(value["c"] == .object(JSONObject()))
        #expect(value["a"]?[1]?.doubleValue == -2.5)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", ".5", "tru", "nul", "\"abc", "{\"a\" 1}", "[1] x", "\"\u{01}\"",
        "\"\\x\"", "\"\\ud800\"", "{1:2}", "NaN", "'a'",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xC3, 0x22]) }
    }

    @Test func limitsNestingDepth() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try JSON.parse(fine).arrayValue != nil)
    }

    @Test func intValueOnlyForIntegerLiterals() throws {
        #expect(JSON.number("5").intValue == 5)
        #expect(JSON.number("5.0").intValue == nil)
        #expect(JSON.number("5e0").intValue == nil)
        #expect(JSON.bool(true).intValue == nil)
        #expect(JSON.string("5").intValue == nil)
    }
}

@Suite struct JSONWriterTests {
    @Test func writesCompactOrderedJSONWithEscapes() {
        let value: JSON = ["z": 1, "a": .string("q\"\\\n\u{01}é"), "n": nil, "m": .number("19.90"), "l": [true, false]]
        #expect(value.text == #"{"z":1,"a":"q\"\\\n\u0001é","n":null,"m":19.90,"l":[true,false]}"#)
    }

    @Test func roundTrips() throws {
        let text = #"{"a":[1,2.50,{"b":null}],"c":"\u0000"}"#
        #expect(try JSON.parse(text).text == text)
    }

    @Test func objectKeepsLastValueOfRepeatedKeyAndCompareIgnoresOrder() throws {
        let value = try JSON.parse(#"{"a":1,"a":2}"#)
        #expect(value["a"] == 2)
        #expect(value.objectValue?.count == 1)
        #expect(JSON(dictionaryLiteral: ("a", 1), ("b", 2)) == JSON(dictionaryLiteral: ("b", 2), ("a", 1)))
    }
}
