import Foundation
import Testing

@testable import ConformanceKit

/// ``ChildProcess`` captures a child's output with reader threads of its own, not with libdispatch read sources
/// (`FileHandle.readabilityHandler`), whose teardown races in libdispatch on Linux and crashed the test process.
@Suite struct ChildProcessTests {
    @Test func capturesStandardOutputAndErrorSeparately() async throws {
        let result = try await ChildProcess.run("/bin/sh", ["-c", "printf out; printf err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output == "out")
        #expect(result.error == "err")
    }

    /// More than one read's worth, written in many pieces: all of it arrives, in order.
    @Test func capturesLongOutputCompletely() async throws {
        let result = try await ChildProcess.run("/bin/sh", ["-c", "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"])
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 20000)
        #expect(lines.first == "line-0" && lines.last == "line-19999")
    }

    /// Children starting and ending concurrently, each with two pipes: the churn of pipe readers set up and torn
    /// down that libdispatch's epoll bookkeeping did not survive with readability handlers.
    @Test func manyChildrenAtOnce() async throws {
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let result = try await ChildProcess.run("/bin/sh", ["-c", "echo out-\(index); echo err-\(index) >&2"])
                    return result.output + result.error
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(outputs == Set((0..<64).map { "out-\($0)\nerr-\($0)\n" }))
    }
}
