import JSONKit
import PaymentsService
import Testing

@Suite struct MoneyTests {
    @Test(arguments: [
        ("19.90", 1990), ("19.9", 1990), ("0.01", 1), ("1", 100), ("1000000", 100_000_000), ("1000000.00", 100_000_000),
        ("1e2", 10_000), ("1E2", 10_000), ("1.234e1", 1234), ("1250e-2", 1250), ("12.5e+1", 12_500), ("0.10", 10),
        ("0001.5", 150),
    ])
    func acceptsExactAmounts(_ literal: String, _ cents: Int64) throws {
        #expect(try Money.parse(.number(literal)) == Money(cents: cents))
    }

    @Test(arguments: [
        ("0.001", Money.ParseError.tooManyDecimals), ("12.345", .tooManyDecimals), ("12.500", .tooManyDecimals),
        ("1.2345e1", .tooManyDecimals), ("1e-3", .tooManyDecimals), ("0", .outOfRange), ("0.00", .outOfRange), ("-0", .outOfRange),
        ("-1", .outOfRange), ("-0.5", .outOfRange), ("1000000.01", .outOfRange), ("1e7", .outOfRange), ("1e400", .outOfRange),
        ("99999999999999999999999", .outOfRange), ("1e-400", .tooManyDecimals), ("abc", .notANumber), ("1.", .notANumber), ("", .notANumber),
        ("1e", .notANumber),
    ])
    func rejectsInvalidAmounts(_ literal: String, _ error: Money.ParseError) {
        #expect(throws: error) { try Money.parse(.number(literal)) }
    }

    @Test(arguments: [JSON.string("12.50"), .bool(true), .null, .array([.number("1")]), ["amount": .number("1")]])
    func rejectsOtherTypes(_ value: JSON) {
        #expect(throws: Money.ParseError.notANumber) { try Money.parse(value) }
    }

    @Test func formatsWithExactlyTwoDecimals() throws {
        #expect(Money(cents: 1990).description == "19.90")
        #expect(Money(cents: 5).description == "0.05")
        #expect(Money(cents: 100_000_000).json == .number("1000000.00"))
        #expect(try Money.parse(.number("1e2")).json == .number("100.00"))
        #expect(Money(cents: -150).description == "-1.50")
    }

    @Test func messagesNameTheField() {
        #expect(Money.ParseError.notANumber.message(for: "amount") == "amount must be a number")
        #expect(Money.ParseError.tooManyDecimals.message(for: "amount") == "amount must have at most 2 decimal places")
        #expect(Money.ParseError.outOfRange.message(for: "amount") == "amount must be between 0.01 and 1000000.00")
    }
}
