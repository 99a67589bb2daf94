import Foundation
import JSONKit
import Testing

@testable import BookstoreMongo

@Suite struct BSONMappingTests {
    /// JSON → BSON → JSON.
    func roundTrip(_ object: JSONObject) throws -> JSONObject {
        try BSONDocument(object).json()
    }

    /// JSON → BSON bytes → a fresh document from the bytes → JSON (the path documents take over the wire).
    func roundTripThroughBytes(_ object: JSONObject) throws -> JSONObject {
        try BSONDocument(bytes: try BSONDocument(object).bytes).json()
    }

    @Test func everyPlainTypeRoundTrips() throws {
        let document: JSONObject = [
            "string": "hello",
            "empty": "",
            "true": true,
            "false": false,
            "null": nil,
            "int": 42,
            "negative": -7,
            "double": .number("19.5"),
            "array": [1, "two", nil, false, [3], ["four": 4]],
            "emptyArray": [],
            "object": ["nested": ["deeper": ["deepest": "yes"]]],
            "emptyObject": [:],
        ]
        #expect(try self.roundTrip(document) == document)
        #expect(try self.roundTripThroughBytes(document) == document)
        #expect(try self.roundTrip(document).keys == document.keys, "member order is kept")
    }

    @Test func knownBytes() throws {
        // {"a": 1} is an int32: 0c000000 10 'a' 00 01000000 00.
        #expect(try BSONDocument(["a": 1]).bytes == [0x0C, 0, 0, 0, 0x10, 0x61, 0, 1, 0, 0, 0, 0])
        // {"s": "é"}: a string of two UTF-8 bytes plus its NUL.
        #expect(try BSONDocument(["s": "é"]).bytes == [0x0F, 0, 0, 0, 0x02, 0x73, 0, 3, 0, 0, 0, 0xC3, 0xA9, 0, 0])
        // {"d": 1.5}: a double.
        #expect(
            try BSONDocument(["d": .number("1.5")]).bytes == [0x10, 0, 0, 0, 0x01, 0x64, 0]
                + Array(withUnsafeBytes(of: (1.5).bitPattern.littleEndian, Array.init)) + [0]
        )
    }

    @Test func unicodeAndEscapesRoundTrip() throws {
        let document: JSONObject = [
            "emoji": "📚 libros — ñandú",
            "cjk": "书评",
            "combining": "e\u{301}",
            "controls": "line\nbreak\ttab\"quote\\",
            "embeddedNUL": "a\u{0}b",
            "clé": "värde",
        ]
        let back = try self.roundTripThroughBytes(document)
        #expect(back == document)
        #expect(back["embeddedNUL"]?.stringValue?.utf8.count == 3)
    }

    @Test func keysWithNULAreRejected() {
        #expect(throws: MongoError.self) { try BSONDocument(["a\u{0}b": 1]) }
    }

    @Test func integerBoundaries() throws {
        let cases: [(literal: String, type: UInt8)] = [
            ("0", 0x10), ("-0", 0x10), ("2147483647", 0x10), ("-2147483648", 0x10),
            ("2147483648", 0x12), ("-2147483649", 0x12), ("9223372036854775807", 0x12), ("-9223372036854775808", 0x12),
            ("9223372036854775808", 0x01), ("1.0", 0x01), ("1e3", 0x01), ("1E-3", 0x01), ("-0.0", 0x01),
        ]
        for (literal, type) in cases {
            let bson = try BSONDocument(["n": .number(literal)])
            #expect(bson.bytes[4] == type, "\(literal) stored as BSON type \(type)")
            let back = try #require(try bson.json()["n"])
            switch type {
            case 0x10, 0x12: #expect(back == .number(literal == "-0" ? "0" : literal))
            default: #expect(back.doubleValue == Double(literal), "\(literal) round-trips as a double (\(back))")
            }
        }
    }

    @Test func doublesKeepTheirType() throws {
        for literal in ["5.0", "0.1", "19.99", "1e+100", "-2.5e-300", "1.7976931348623157e+308", "5e-324", "123456789.125"] {
            let back = try #require(try self.roundTrip(["d": .number(literal)])["d"])
            #expect(back.doubleValue == Double(literal))
            #expect(back.intValue == nil, "\(literal) reads back as a non-integer literal (\(back))")
            #expect(try self.roundTrip(["d": back])["d"] == back, "stable after the first round trip")
        }
        #expect(try self.roundTrip(["x": ["$numberDouble": "NaN"]])["x"] == ["$numberDouble": "NaN"])
        #expect(try self.roundTrip(["x": ["$numberDouble": "-Infinity"]])["x"] == ["$numberDouble": "-Infinity"])
    }

    @Test func datesAreBSONDatetimes() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123_9)
        let stored = try BSONDocument(["at": MongoValue.date(date)])
        #expect(stored.bytes[4] == 0x09, "BSON datetime")
        let back = try stored.json()
        #expect(back["at"] == ["$date": .number("1700000000123")])
        let decoded = try #require(MongoValue.date(from: back["at"]))
        #expect(abs(decoded.timeIntervalSince(date)) < 0.001)
        #expect(MongoValue.milliseconds(decoded) == 1_700_000_000_123, "re-encoding keeps the millisecond")

        // Before 1970, and from RFC 3339 text.
        let old = try #require(MongoValue.date(from: try self.roundTrip(["at": ["$date": -1]])["at"]))
        #expect(MongoValue.milliseconds(old) == -1)
        let parsed = try self.roundTrip(["at": ["$date": "2026-01-02T03:04:05.678Z"]])
        #expect(parsed["at"] == ["$date": .number("1767323045678")])
        #expect(throws: MongoError.self) { try BSONDocument(["at": ["$date": "yesterday"]]) }
    }

    @Test func millisecondDatesKeepTheirMillisecond() throws {
        // Dates truncated to milliseconds as `ms / 1000` sit just below the millisecond in a Double.
        for millis: Int64 in [1_700_000_000_123, 1_700_000_000_001, 1_700_000_000_999, 0, -1, -1001] {
            #expect(MongoValue.milliseconds(Date(timeIntervalSince1970: Double(millis) / 1000)) == millis)
        }
        #expect(MongoValue.milliseconds(Date(timeIntervalSince1970: 1_700_000_000.123_999)) == 1_700_000_000_123)
    }

    @Test func formattedDatesShowTheStoredMillisecond() throws {
        // 1700000000123 ms is not exactly representable as seconds in a Double; the decoded date must still print .123.
        for millis: Int64 in [1_700_000_000_123, 1_700_000_000_999, 1_700_000_000_000, 1_700_000_000_001] {
            let date = try #require(MongoValue.date(from: ["$date": .number(String(millis))]))
            #expect(MongoValue.milliseconds(date) == millis)
        }
    }

    @Test func decimal128KeepsExactDigits() throws {
        for literal in ["19.90", "0.01", "1000000.00", "-3.50", "12345678901234567890.123456789", "0"] {
            let stored = try BSONDocument(["amount": MongoValue.decimal(literal)])
            #expect(stored.bytes[4] == 0x13, "Decimal128")
            let back = try stored.json()
            #expect(MongoValue.decimal(from: back["amount"]) == literal)
        }
        #expect(throws: MongoError.self) { try BSONDocument(["amount": MongoValue.decimal("nineteen")]) }
        #expect(throws: MongoError.self) { try BSONDocument(["amount": ["$numberDecimal": .number("19.9")]]) }
    }

    @Test func objectIDsAndLongs() throws {
        let hex = "65a1b2c3d4e5f60718293a4b"
        let back = try self.roundTrip(["_id": MongoValue.objectID(hex), "big": ["$numberLong": "5"]])
        #expect(MongoValue.objectID(from: back["_id"]) == hex)
        #expect(back["big"] == 5, "an int64 reads back as a plain integer")
        #expect(throws: MongoError.self) { try BSONDocument(["_id": ["$oid": "xyz"]]) }
    }

    @Test func operatorsAreOrdinaryDocuments() throws {
        let update: JSONObject = ["$inc": ["helpful_count": 1], "$set": ["status": "active"]]
        #expect(try self.roundTrip(update) == update)
        let filter: JSONObject = ["status": ["$ne": "deleted"], "$or": [["a": 1], ["b": ["$gt": ["$date": 5]]]]]
        #expect(try self.roundTrip(filter) == filter)
    }

    @Test func largeAndDeepDocumentsRoundTrip() throws {
        let text = String(repeating: "0123456789abcdef", count: 65_536)  // 1 MiB
        var items: [JSON] = []
        for index in 0..<10_000 { items.append(["i": .int(index), "name": .string("item \(index)")]) }
        var nested: JSON = "bottom"
        for level in 0..<60 { nested = ["level": .int(level), "child": nested] }
        let document: JSONObject = ["text": .string(text), "items": .array(items), "nested": nested]
        let bson = try BSONDocument(document)
        #expect(bson.bytes.count > 1_000_000)
        #expect(try self.roundTripThroughBytes(document) == document)
    }

    @Test func corruptBytesAreRejected() {
        #expect(throws: MongoError.self) { try BSONDocument(bytes: [1, 2, 3]) }
        #expect(throws: MongoError.self) { try BSONDocument(bytes: [0x0C, 0, 0, 0, 0x10, 0x61, 0, 1, 0, 0, 0, 1]) }
    }
}
