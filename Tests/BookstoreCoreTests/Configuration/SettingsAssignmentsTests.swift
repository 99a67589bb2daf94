import BookstoreCore
import Testing

@Suite struct SettingsAssignmentsTests {
    @Test func assignmentsSplitAtTheFirstEqualsSign() throws {
        #expect(try Settings.assignments([]) == [:])
        #expect(try Settings.assignments(["A=1", "B=x=y", "C=", "A=2"]) == ["A": "2", "B": "x=y", "C": ""])
    }

    @Test(arguments: ["x", "=1", ""])
    func anEntryWithoutAKeyIsRejected(_ entry: String) {
        #expect(throws: ConfigurationError.self) { try Settings.assignments(["A=1", entry]) }
        do {
            _ = try Settings.assignments([entry])
        } catch {
            #expect(error.description == "expects KEY=VALUE, got \(entry)")
        }
    }
}
