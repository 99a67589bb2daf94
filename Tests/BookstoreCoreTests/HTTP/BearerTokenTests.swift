import Testing

@testable import BookstoreCore

@Suite struct BearerTokenTests {
    /// What the header gave before it was read on bytes (split on the first space, scheme lowercased, token trimmed);
    /// an empty token counts as none, as `authenticate` rejects both alike.
    private static func splitReading(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = String(parts[1]).trimmingWhitespace()
        return token.isEmpty ? nil : token
    }

    private static func bytesReading(_ header: String) -> String? {
        var header = header
        return header.withUTF8(bearerToken(in:))
    }

    @Test(arguments: [
        "Bearer abc.def.ghi", "bearer abc", "BEARER abc", "bEaReR abc", "  Bearer abc", "Bearer   abc  ", "Bearer abc def",
        "Bearer", "Bearer ", "Bearer  ", "Bearer \t", "", " ", "Basic abc", "Bearerabc", "Bearer\tabc", "Bearer\u{A0}abc",
        "Bearer \u{A0}abc\u{A0}", "Bearer \u{2003}abc\u{85}", "Bearer é", "Bearer \tabc\t", "Beärer abc", "Bearer x",
        "Token abc", "Bearer\u{0}abc", "Bearer abc\u{0}", "Bea rer abc", "Bearer:abc",
    ])
    func readsTheTokenAsSplittingDid(_ header: String) {
        #expect(Self.bytesReading(header) == Self.splitReading(header))
    }

    @Test func readsTheToken() {
        #expect(Self.bytesReading("Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(Self.bytesReading("bearer  tok ") == "tok")
        #expect(Self.bytesReading("Basic abc") == nil)
        #expect(Self.bytesReading("Bearer") == nil)
    }
}
