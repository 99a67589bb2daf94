import Foundation
import Testing

@testable import BookstoreCore

@Suite struct RequestIDTests {
    /// New request ids are distinct lowercase version-4 UUIDs in their canonical text form.
    @Test func newRequestIDsAreDistinctLowercaseVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<2000 {
            let id = ObservabilityMiddleware.newRequestID()
            let uuid = try #require(UUID(parsing: id), "\(id)")
            #expect(uuid.lowercasedText == id)
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4)
            #expect(bytes[8] >> 6 == 0b10)
            seen.insert(id)
        }
        #expect(seen.count == 2000)
    }

    @Test func keepsOnlyVisibleASCIIIncomingIDsUpTo128Bytes() {
        #expect(ObservabilityMiddleware.acceptableRequestID("req-1") == "req-1")
        #expect(ObservabilityMiddleware.acceptableRequestID(String(repeating: "a", count: 128)) != nil)
        for rejected in [nil, "", String(repeating: "a", count: 129), "has space", "tab\t", "é"] {
            #expect(ObservabilityMiddleware.acceptableRequestID(rejected) == nil)
        }
    }
}
