import Foundation
import Testing

@testable import PaymentsService

@Suite struct CardValidatorTests {
    /// 15 March 2026, 12:00 UTC.
    static let march2026 = Date(timeIntervalSince1970: 1_773_576_000)
    let validator = CardValidator(now: { CardValidatorTests.march2026 })

    @Test(arguments: [
        "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "378282246310005",
        "4222222222222", "6011000990139424", "3530111333300000",
        // 19 digits
        "4111111111111111110",
    ])
    func acceptsLuhnValidNumbers(_ number: String) {
        #expect(self.validator.problem(cardNumber: number) == nil)
    }

    @Test(arguments: [
        ("4111111111111112", "is not a valid card number (Luhn check failed)"),
        ("411111111111", "must contain 13 to 19 digits"),
        ("41111111111111111111", "must contain 13 to 19 digits"),
        ("4111x11111111111", "must contain only digits, spaces and hyphens"),
        ("", "must contain 13 to 19 digits"),
    ])
    func rejectsInvalidNumbers(_ number: String, _ reason: String) {
        #expect(self.validator.problem(cardNumber: number) == reason)
    }

    @Test(arguments: ["123", "1234"])
    func acceptsCVVs(_ cvv: String) {
        #expect(self.validator.problem(cvv: cvv) == nil)
    }

    @Test(arguments: ["12", "12345", "12a", " 123", "１２３"])
    func rejectsCVVs(_ cvv: String) {
        #expect(self.validator.problem(cvv: cvv) == "must be 3 or 4 digits")
    }

    @Test func expiryIsNotBeforeTheCurrentMonth() {
        #expect(self.validator.problem(expiryDate: "03/26") == nil, "this month is still valid")
        #expect(self.validator.problem(expiryDate: "04/26") == nil)
        #expect(self.validator.problem(expiryDate: "12/99") == nil)
        #expect(self.validator.problem(expiryDate: "02/26") == "is in the past: the card has expired", "last month")
        #expect(self.validator.problem(expiryDate: "12/25") == "is in the past: the card has expired")
    }

    @Test(arguments: ["13/27", "00/27"])
    func expiryMonthMustBeValid(_ expiry: String) {
        #expect(self.validator.problem(expiryDate: expiry) == "must have a month between 01 and 12")
    }

    @Test(arguments: ["1/27", "01-27", "01/2027", "ab/cd", "0127", ""])
    func expiryMustBeMMYY(_ expiry: String) {
        #expect(self.validator.problem(expiryDate: expiry) == "must be in MM/YY format")
    }

    @Test func yearBoundaryUsesUTC() {
        // 31 December 2025, 23:30 UTC: December 2025 is current, whatever the local time zone.
        let validator = CardValidator(now: { Date(timeIntervalSince1970: 1_767_223_800) })
        #expect(validator.problem(expiryDate: "12/25") == nil)
        #expect(validator.problem(expiryDate: "11/25") != nil)
    }

    @Test func utcMonthArithmeticAgreesWithTheGregorianCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Every 6 hours and 17 seconds from 1960 to 2110 (crossing every month boundary, leap days and 2000/2100),
        // and the last and first second of each day around the epoch.
        var instants = Array(stride(from: -315_619_200.0, to: 4_417_977_600.0, by: 21_617))
        instants += (-3...3).flatMap { day in [Double(day) * 86_400 - 1, Double(day) * 86_400] }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            let parts = calendar.dateComponents([.year, .month], from: date)
            let expected = parts.year! * 12 + parts.month!
            guard CardValidator.utcMonthNumber(date) == expected else {
                Issue.record("\(date): \(CardValidator.utcMonthNumber(date)) != \(expected)")
                return
            }
        }
    }
}
