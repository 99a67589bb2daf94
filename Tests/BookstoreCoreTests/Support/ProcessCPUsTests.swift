import BookstoreCore
import NIOCore
import Testing

@Suite struct ProcessCPUsTests {
    @Test(arguments: [
        ("3", 2), ("1", 1), ("ff", 8), ("\tffffffff,00000003", 34), ("00000000,00000001", 1), ("8000,0001\n", 2),
    ])
    func countsTheCPUsOfAnAffinityMask(mask: String, expected: Int) {
        #expect(ProcessCPUs.count(cpusAllowed: Substring(mask)) == expected)
    }

    @Test(arguments: ["", "0", "00000000,00000000", "fg", "1-3"])
    func rejectsMasksThatNameNoCPU(mask: String) {
        #expect(ProcessCPUs.count(cpusAllowed: Substring(mask)) == nil)
    }

    @Test func sizesTheSharedLoopsDownToTheAffinityOnly() {
        #expect(ProcessCPUs.sharedLoopCount(environment: [:], available: 1, coreCount: 2) == 1)
        #expect(ProcessCPUs.sharedLoopCount(environment: [:], available: 3, coreCount: 8) == 3)
        // NIO's own choice stands when the process may use every CPU NIO counts, or when the user chose.
        #expect(ProcessCPUs.sharedLoopCount(environment: [:], available: 2, coreCount: 2) == nil)
        #expect(ProcessCPUs.sharedLoopCount(environment: [:], available: 4, coreCount: 2) == nil)
        #expect(ProcessCPUs.sharedLoopCount(environment: ["NIO_SINGLETON_GROUP_LOOP_COUNT": "4"], available: 1, coreCount: 2) == nil)
    }

    @Test func availableCPUsAreWithinWhatNIOCounts() {
        #expect((1...System.coreCount).contains(ProcessCPUs.available))
    }
}
