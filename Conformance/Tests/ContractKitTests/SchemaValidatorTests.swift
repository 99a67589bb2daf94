import ContractKit
import JSONKit
import Testing

/// One keyword case: a schema, a value, and the single violation expected (`keyword@path`), or nil for a pass.
struct SchemaCase: Sendable, CustomTestStringConvertible {
    let schema: String
    let value: String
    let expected: String?

    init(_ schema: String, _ value: String, _ expected: String? = nil) {
        self.schema = schema
        self.value = value
        self.expected = expected
    }

    var testDescription: String { "\(self.value) against \(self.schema) → \(self.expected ?? "valid")" }
}

@Suite("Schema keywords")
struct SchemaValidatorTests {
    static let typeCases: [SchemaCase] = [
        SchemaCase(#"{"type":"string"}"#, #""x""#),
        SchemaCase(#"{"type":"string"}"#, "1", "type@$"),
        SchemaCase(#"{"type":"number"}"#, "1.5"),
        SchemaCase(#"{"type":"number"}"#, "-2"),
        SchemaCase(#"{"type":"number"}"#, #""1""#, "type@$"),
        SchemaCase(#"{"type":"integer"}"#, "3"),
        SchemaCase(#"{"type":"integer"}"#, "-3"),
        SchemaCase(#"{"type":"integer"}"#, "3.0", "type@$"),
        SchemaCase(#"{"type":"integer"}"#, "1e2", "type@$"),
        SchemaCase(#"{"type":"integer"}"#, #""3""#, "type@$"),
        SchemaCase(#"{"type":"boolean"}"#, "true"),
        SchemaCase(#"{"type":"boolean"}"#, #""true""#, "type@$"),
        SchemaCase(#"{"type":"object"}"#, "{}"),
        SchemaCase(#"{"type":"object"}"#, "[]", "type@$"),
        SchemaCase(#"{"type":"array"}"#, "[]"),
        SchemaCase(#"{"type":"array"}"#, "{}", "type@$"),
        SchemaCase(#"{"type":"string"}"#, "null", "type@$"),
        SchemaCase(#"{"type":"string","nullable":false}"#, "null", "type@$"),
        SchemaCase(#"{"type":"string","nullable":true}"#, "null"),
        SchemaCase(#"{"type":"string","nullable":true}"#, "2", "type@$"),
        SchemaCase(#"{"nullable":true,"allOf":[{"type":"string","format":"date-time"}]}"#, "null"),
        SchemaCase(#"{}"#, "null"),
        SchemaCase(#"{"type":"null"}"#, "null", "schema@$"),
        SchemaCase(#"{"type":["string","null"]}"#, #""x""#, "schema@$"),
        SchemaCase("true", "1"),
        SchemaCase("false", "1", "schema@$"),
        SchemaCase(#""string""#, "1", "schema@$"),
    ]

    static let enumCases: [SchemaCase] = [
        SchemaCase(#"{"enum":["USD","EUR"]}"#, #""EUR""#),
        SchemaCase(#"{"enum":["USD","EUR"]}"#, #""JPY""#, "enum@$"),
        SchemaCase(#"{"enum":["USD","EUR"]}"#, #""usd""#, "enum@$"),
        SchemaCase(#"{"enum":[1,2]}"#, "1.0"),
        SchemaCase(#"{"enum":[1,2]}"#, "3", "enum@$"),
        SchemaCase(#"{"enum":[{"a":1,"b":[true]}]}"#, #"{"b":[true],"a":1}"#),
        SchemaCase(#"{"enum":[null,"x"]}"#, "null"),
        SchemaCase(#"{"type":"string","enum":["a"]}"#, "1", "type@$"),
        SchemaCase(#"{"enum":"a"}"#, #""a""#, "schema@$"),
    ]

    static let objectCases: [SchemaCase] = [
        SchemaCase(#"{"type":"object","properties":{"a":{"type":"string"}}}"#, #"{"a":"x"}"#),
        SchemaCase(#"{"type":"object","properties":{"a":{"type":"string"}}}"#, #"{"a":1}"#, "type@$.a"),
        SchemaCase(#"{"properties":{"a":{"type":"string"}}}"#, "{}"),
        SchemaCase(#"{"required":["a"]}"#, #"{"a":null}"#),
        SchemaCase(#"{"required":["a"]}"#, "{}", "required@$.a"),
        SchemaCase(#"{"required":["1"]}"#, "{}", #"required@$["1"]"#),
        SchemaCase(#"{"required":["a"]}"#, #""not an object""#),
        SchemaCase(#"{"properties":{"a":{}},"additionalProperties":false}"#, #"{"a":1}"#),
        SchemaCase(#"{"properties":{"a":{}},"additionalProperties":false}"#, #"{"a":1,"b":2}"#, "additionalProperties@$.b"),
        SchemaCase(#"{"properties":{"a":{}},"additionalProperties":true}"#, #"{"a":1,"b":2}"#),
        SchemaCase(#"{"properties":{"a":{}}}"#, #"{"a":1,"b":2}"#),
        SchemaCase(#"{"additionalProperties":{"type":"integer"}}"#, #"{"x":1,"y":2}"#),
        SchemaCase(#"{"additionalProperties":{"type":"integer"}}"#, #"{"x":1,"y":"2"}"#, "type@$.y"),
        SchemaCase(#"{"properties":{"a":{"properties":{"b c":{"type":"integer"}}}}}"#, #"{"a":{"b c":"x"}}"#, #"type@$.a["b c"]"#),
        SchemaCase(#"{"properties":"a"}"#, "{}", "schema@$"),
    ]

    static let arrayCases: [SchemaCase] = [
        SchemaCase(#"{"type":"array","items":{"type":"integer"}}"#, "[1,2]"),
        SchemaCase(#"{"type":"array","items":{"type":"integer"}}"#, #"[1,"2"]"#, "type@$[1]"),
        SchemaCase(#"{"items":{"properties":{"amount":{"type":"number"}}}}"#, #"[{"amount":1},{"amount":"1"}]"#, "type@$[1].amount"),
        SchemaCase(#"{"minItems":1}"#, "[1]"),
        SchemaCase(#"{"minItems":1}"#, "[]", "minItems@$"),
        SchemaCase(#"{"maxItems":2}"#, "[1,2]"),
        SchemaCase(#"{"maxItems":2}"#, "[1,2,3]", "maxItems@$"),
        SchemaCase(#"{"maxItems":-1}"#, "[]", "schema@$"),
    ]

    static let numberCases: [SchemaCase] = [
        SchemaCase(#"{"minimum":0.01}"#, "0.01"),
        SchemaCase(#"{"minimum":0.01}"#, "0.010"),
        SchemaCase(#"{"minimum":0.01}"#, "0.009", "minimum@$"),
        SchemaCase(#"{"minimum":0.01}"#, "0", "minimum@$"),
        SchemaCase(#"{"minimum":0.01}"#, "-5", "minimum@$"),
        SchemaCase(#"{"minimum":0.01}"#, "1e-3", "minimum@$"),
        SchemaCase(#"{"minimum":-5}"#, "-4"),
        SchemaCase(#"{"minimum":-5}"#, "-5.5", "minimum@$"),
        SchemaCase(#"{"maximum":1000000}"#, "1000000"),
        SchemaCase(#"{"maximum":1000000}"#, "1000000.00"),
        SchemaCase(#"{"maximum":1000000}"#, "1000000.01", "maximum@$"),
        SchemaCase(#"{"maximum":1000000}"#, "1e300", "maximum@$"),
        SchemaCase(#"{"maximum":1000000}"#, "1e6"),
        SchemaCase(#"{"minimum":0,"exclusiveMinimum":true}"#, "0", "minimum@$"),
        SchemaCase(#"{"minimum":0,"exclusiveMinimum":true}"#, "0.0001"),
        SchemaCase(#"{"maximum":5,"exclusiveMaximum":true}"#, "5", "maximum@$"),
        SchemaCase(#"{"maximum":5,"exclusiveMaximum":true}"#, "4.99"),
        SchemaCase(#"{"maximum":5,"exclusiveMaximum":false}"#, "5"),
        SchemaCase(#"{"exclusiveMinimum":1}"#, "1", "minimum@$"),
        SchemaCase(#"{"minimum":"1"}"#, "1", "schema@$"),
        SchemaCase(#"{"minimum":1}"#, #""0""#),
        SchemaCase(#"{"multipleOf":0.01}"#, "19.90"),
        SchemaCase(#"{"multipleOf":0.01}"#, "19.9"),
        SchemaCase(#"{"multipleOf":0.01}"#, "20"),
        SchemaCase(#"{"multipleOf":0.01}"#, "1e2"),
        SchemaCase(#"{"multipleOf":0.01}"#, "123456789012345678901234567890.12"),
        SchemaCase(#"{"multipleOf":0.01}"#, "0.07"),
        SchemaCase(#"{"multipleOf":0.01}"#, "19.999", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":0.01}"#, "1.005", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":0.01}"#, "1e-3", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":0.01}"#, "0.5700000000000001", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":0.5}"#, "2.5"),
        SchemaCase(#"{"multipleOf":0.5}"#, "3"),
        SchemaCase(#"{"multipleOf":0.5}"#, "2.25", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":3}"#, "9"),
        SchemaCase(#"{"multipleOf":3}"#, "-12"),
        SchemaCase(#"{"multipleOf":3}"#, "0"),
        SchemaCase(#"{"multipleOf":3}"#, "10", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":3}"#, "3e40"),
        SchemaCase(#"{"multipleOf":7}"#, "1e40", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":10}"#, "5", "multipleOf@$"),
        SchemaCase(#"{"multipleOf":0}"#, "5", "schema@$"),
        SchemaCase(#"{"multipleOf":-1}"#, "5", "schema@$"),
        SchemaCase(#"{"x-decimal-places":2}"#, "19.90"),
        SchemaCase(#"{"x-decimal-places":2}"#, "20.00"),
        SchemaCase(#"{"x-decimal-places":2}"#, "19.9", "x-decimal-places@$"),
        SchemaCase(#"{"x-decimal-places":2}"#, "20", "x-decimal-places@$"),
        SchemaCase(#"{"x-decimal-places":2}"#, "1.990e1", "x-decimal-places@$"),
        SchemaCase(#"{"x-decimal-places":0}"#, "20"),
        SchemaCase(#"{"x-decimal-places":"2"}"#, "1.00", "schema@$"),
    ]

    static let stringCases: [SchemaCase] = [
        SchemaCase(#"{"minLength":3}"#, #""abc""#),
        SchemaCase(#"{"minLength":3}"#, #""ab""#, "minLength@$"),
        SchemaCase(#"{"maxLength":3}"#, #""abc""#),
        SchemaCase(#"{"maxLength":3}"#, #""abcd""#, "maxLength@$"),
        SchemaCase(#"{"maxLength":3}"#, #""héé""#),
        // Lengths count Unicode scalars: "e" + combining acute is one character but two scalars.
        SchemaCase(#"{"maxLength":1}"#, #""e\u0301""#, "maxLength@$"),
        SchemaCase(#"{"minLength":2}"#, #""e\u0301""#),
        SchemaCase(#"{"maxLength":1}"#, #""\ud83d\udc4d""#),
        SchemaCase(#"{"minLength":1}"#, "5"),
        SchemaCase(#"{"minLength":1.5}"#, #""x""#, "schema@$"),
        SchemaCase(#"{"pattern":"^TXN-[0-9A-F]{12}$"}"#, #""TXN-0123456789AB""#),
        SchemaCase(#"{"pattern":"^TXN-[0-9A-F]{12}$"}"#, #""TXN-0123""#, "pattern@$"),
        SchemaCase(#"{"pattern":"^TXN-[0-9A-F]{12}$"}"#, #""TXN-0123456789ab""#, "pattern@$"),
        SchemaCase(#"{"pattern":"^[A-Za-z0-9_-]+$"}"#, #""book-1_a""#),
        SchemaCase(#"{"pattern":"^[A-Za-z0-9_-]+$"}"#, #""book 1""#, "pattern@$"),
        SchemaCase(#"{"pattern":"b"}"#, #""abc""#),
        SchemaCase(#"{"pattern":"^(0[1-9]|1[0-2])/[0-9]{2}$"}"#, #""12/29""#),
        SchemaCase(#"{"pattern":"^(0[1-9]|1[0-2])/[0-9]{2}$"}"#, #""13/29""#, "pattern@$"),
        SchemaCase(#"{"pattern":"(["}"#, #""x""#, "schema@$"),
        SchemaCase(#"{"pattern":5}"#, #""x""#, "schema@$"),
        SchemaCase(#"{"format":"uuid"}"#, #""3f2504e0-4f89-41d3-9a0c-0305e82c3301""#),
        SchemaCase(#"{"format":"uuid"}"#, #""3F2504E0-4F89-41D3-9A0C-0305E82C3301""#),
        SchemaCase(#"{"format":"uuid"}"#, #""3f2504e04f8941d39a0c0305e82c3301""#, "format@$"),
        SchemaCase(#"{"format":"uuid"}"#, #""3f2504e0-4f89-41d3-9a0c-0305e82c330g""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05.123Z""#),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05Z""#),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29t15:13:05.1z""#),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05+01:00""#),
        SchemaCase(#"{"format":"date-time"}"#, #""2016-12-31T23:59:60Z""#),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29 15:13:05Z""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05.Z""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-02-30T00:00:00Z""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T24:00:00Z""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""2026-11-29T15:13:05+0100""#, "format@$"),
        SchemaCase(#"{"format":"date-time"}"#, #""1764429185""#, "format@$"),
        SchemaCase(#"{"format":"date"}"#, #""2024-02-29""#),
        SchemaCase(#"{"format":"date"}"#, #""2023-02-29""#, "format@$"),
        SchemaCase(#"{"format":"date"}"#, #""2023-13-01""#, "format@$"),
        SchemaCase(#"{"format":"email"}"#, #""ada.lovelace+books@example.com""#),
        SchemaCase(#"{"format":"email"}"#, #""admin@localhost""#),
        SchemaCase(#"{"format":"email"}"#, #""not-an-email""#, "format@$"),
        SchemaCase(#"{"format":"email"}"#, #""a@b@c.com""#, "format@$"),
        SchemaCase(#"{"format":"email"}"#, #""a b@c.com""#, "format@$"),
        SchemaCase(#"{"format":"email"}"#, #""a@-c.com""#, "format@$"),
        SchemaCase(#"{"format":"email"}"#, #""@c.com""#, "format@$"),
        SchemaCase(#"{"format":"hostname"}"#, #""!!""#),
        SchemaCase(#"{"format":"uuid"}"#, "42"),
    ]

    static let combinatorCases: [SchemaCase] = [
        SchemaCase(#"{"allOf":[{"type":"string"},{"minLength":2}]}"#, #""ab""#),
        SchemaCase(#"{"allOf":[{"type":"string"},{"minLength":2}]}"#, #""a""#, "minLength@$"),
        SchemaCase(#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, "1"),
        SchemaCase(#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, "true", "anyOf@$"),
        SchemaCase(#"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#, "1.5"),
        SchemaCase(#"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#, "1", "oneOf@$"),
        SchemaCase(#"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#, #""x""#, "oneOf@$"),
        SchemaCase(#"{"not":{"type":"string"}}"#, "1"),
        SchemaCase(#"{"not":{"type":"string"}}"#, #""x""#, "not@$"),
        SchemaCase(#"{"allOf":[]}"#, "1", "schema@$"),
        SchemaCase(#"{"anyOf":{"type":"string"}}"#, "1", "schema@$"),
    ]

    @Test(arguments: Self.typeCases) func type(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.enumCases) func enumeration(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.objectCases) func object(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.arrayCases) func array(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.numberCases) func number(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.stringCases) func string(_ testCase: SchemaCase) throws { try Self.check(testCase) }
    @Test(arguments: Self.combinatorCases) func combinators(_ testCase: SchemaCase) throws { try Self.check(testCase) }

    static func check(_ testCase: SchemaCase) throws {
        let schema = try JSON.parse(testCase.schema)
        let value = try JSON.parse(testCase.value)
        let violations = SchemaValidator().validate(value, against: schema)
        let seen = violations.map { "\($0.keyword)@\($0.path)" }
        if let expected = testCase.expected {
            #expect(seen == [expected], "\(violations.report)")
        } else {
            #expect(violations.isEmpty, "\(violations.report)")
        }
    }

    @Test func messagesSayWhatWasExpectedAndSeen() throws {
        let schema = try JSON.parse(
            #"{"type":"object","properties":{"data":{"type":"object","properties":{"payments":{"type":"array","items":{"#
                + #""type":"object","properties":{"amount":{"type":"number","minimum":0.01}}}}}}}}"#
        )
        let value = try JSON.parse(#"{"data":{"payments":[{"amount":5},{"amount":0}]}}"#)
        let violations = SchemaValidator().validate(value, against: schema)
        #expect(violations == [ContractViolation(path: "$.data.payments[1].amount", keyword: "minimum", message: "expected a number >= 0.01, saw 0")])
        #expect(violations.report == "$.data.payments[1].amount: expected a number >= 0.01, saw 0")

        let typeViolation = SchemaValidator().validate(.number("42"), against: ["type": "string", "nullable": true])
        #expect(typeViolation.map(\.message) == ["expected string or null, saw 42"])

        let required = SchemaValidator().validate(["a": 1], against: ["required": ["a", "b"]])
        #expect(required.map(\.message) == ["expected required property 'b', saw none"])
    }

    @Test func violationsAreAllReportedNotJustTheFirst() throws {
        let schema = try JSON.parse(
            #"{"type":"object","required":["id","name"],"additionalProperties":false,"#
                + #""properties":{"id":{"type":"string","format":"uuid"},"name":{"type":"string"}}}"#
        )
        let violations = SchemaValidator().validate(try JSON.parse(#"{"id":"x","extra":true}"#), against: schema)
        #expect(Set(violations.map { "\($0.keyword)@\($0.path)" }) == ["required@$.name", "format@$.id", "additionalProperties@$.extra"])
    }

    @Test func customPathPrefix() {
        let violations = SchemaValidator().validate(.string("x"), against: ["type": "integer"], at: "headers.retry-after")
        #expect(violations.map(\.path) == ["headers.retry-after"])
    }

    @Test func anchorsDoNotAcceptATrailingNewline() {
        let violations = SchemaValidator().validate(.string("TXN-0123456789AB\n"), against: ["pattern": "^TXN-[0-9A-F]{12}$"])
        #expect(violations.map(\.keyword) == ["pattern"])
    }
}
