import BookstoreCore
import Foundation
import Testing

@Suite struct TimestampTests {
    @Test func formatsMillisecondsExactlyAndParsesBack() throws {
        let date = Date(timeIntervalSince1970: 1_767_323_045_123 / 1000)
        #expect(Timestamp.iso8601(date) == "2026-01-02T03:04:05.123Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0.000_999_4)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        let parsed = try #require(Timestamp.parse("2026-01-02T03:04:05.123Z"))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.000_5)
    }
}
