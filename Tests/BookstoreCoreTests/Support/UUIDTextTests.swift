import BookstoreCore
import Foundation
import Testing

@Suite struct UUIDTextTests {
    @Test func parsesUpperAndLowerCaseForms() {
        for _ in 0..<200 {
            let uuid = UUID()
            #expect(UUID(parsing: uuid.uuidString) == uuid)
            #expect(UUID(parsing: uuid.uuidString.lowercased()) == uuid)
        }
        #expect(UUID(parsing: "00000000-0000-0000-0000-000000000000") == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        #expect(
            UUID(parsing: "0123abcd-EF45-6789-aBcD-ef0123456789")
                == UUID(uuid: (0x01, 0x23, 0xAB, 0xCD, 0xEF, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89))
        )
    }

    @Test func writesTheLowercaseCanonicalText() {
        for _ in 0..<200 {
            let uuid = UUID()
            #expect(uuid.lowercasedText == uuid.uuidString.lowercased())
            #expect(UUID(parsing: uuid.lowercasedText) == uuid)
        }
        let bytes = UUID(uuid: (0x01, 0x23, 0xAB, 0xCD, 0xEF, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89))
        #expect(bytes.lowercasedText == "0123abcd-ef45-6789-abcd-ef0123456789")
    }

    /// Only the canonical form: Foundation on Linux (`sscanf` by pairs) also takes a space, a sign or `0x` inside a pair,
    /// so `7 02b416-…` would name user 0702B416-… there; here it names none.
    @Test func rejectsAnythingButTheCanonicalForm() {
        let valid = "7802b416-d857-46aa-a3e0-128353aff2c7"
        let rejected = [
            "", "7802b416", String(valid.dropLast()), valid + "0", valid + " ", " " + valid, "{\(valid)}",
            "7802b416d85746aaa3e0128353aff2c7", "7802b416-d85746aa-a3e0-128353aff2c7-", "7802b416_d857_46aa_a3e0_128353aff2c7",
            "7802b41-6d857-46aa-a3e0-128353aff2c7", "g802b416-d857-46aa-a3e0-128353aff2c7", "7802b416-d857-46aa-a3e0-128353aff2cz",
            "7802b416-d857-46aa-a3e0-128353aff2cé", "+802b416-d857-46aa-a3e0-128353aff2c7", "0x02b416-d857-46aa-a3e0-128353aff2c7",
            "7 02b416-d857-46aa-a3e0-128353aff2c7", "7802b416-d8-7-46aa-a3e0-128353aff2c7",
        ]
        for text in rejected {
            #expect(UUID(parsing: text) == nil, "\(text.debugDescription)")
        }
    }

    /// Each position of a valid string replaced by characters around the accepted ones: accepted exactly when the result
    /// is canonical, and then the UUID Foundation reads.
    @Test func acceptsExactlyTheCanonicalFormCharacterByCharacter() {
        let valid = Array("7802b416-d857-46aa-a3e0-128353aff2c7")
        let replacements: [Character] = ["0", "9", "a", "f", "A", "F", "g", "G", "-", " ", "/", ":", "@", "`", "x", "\u{0}", "é"]
        for index in valid.indices {
            for replacement in replacements {
                var text = valid
                text[index] = replacement
                let isDash = [8, 13, 18, 23].contains(index)
                let canonical = isDash ? replacement == "-" : replacement.isHexDigit
                let parsed = UUID(parsing: String(text))
                #expect((parsed != nil) == canonical, "\(String(text).debugDescription)")
                if canonical { #expect(parsed == UUID(uuidString: String(text)), "\(String(text).debugDescription)") }
            }
        }
    }
}
