import BookstoreCore
import Synchronization
import Testing

@Suite struct OperationTimeoutsTests {
    let timeouts = OperationTimeouts(tick: .milliseconds(10))

    @Test func anOperationThatFinishesInTimeReturnsItsValueAndLeavesNothingRegistered() async throws {
        let value = try await self.timeouts.run(within: .seconds(5)) { 42 }
        #expect(value == 42)
        #expect(self.timeouts.pending == 0)
    }

    @Test func anOperationsErrorIsRethrown() async {
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await self.timeouts.run(within: .seconds(5)) { () async throws -> Int in throw Refused() }
        }
    }

    @Test func aCooperativeOperationIsCancelledAtItsLimit() async {
        let sawCancellation = Atomic<Bool>(false)
        let start = ContinuousClock.now
        await #expect(throws: OperationTimedOut(limit: .milliseconds(100))) {
            try await self.timeouts.run(within: .milliseconds(100)) { () async throws -> Int in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    sawCancellation.store(true, ordering: .relaxed)
                    throw error
                }
                return 0
            }
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(100) && elapsed < .seconds(5), "timed out after \(elapsed)")
        // The operation's task sees the cancellation (it finishes in the background).
        for _ in 0..<200 where !sawCancellation.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
        let cancelled = sawCancellation.load(ordering: .relaxed)
        #expect(cancelled)
        #expect(self.timeouts.pending == 0)
    }

    @Test func anOperationThatIgnoresCancellationDoesNotHoldTheCallerPastItsLimit() async {
        let release = AsyncStream<Void>.makeStream()
        let start = ContinuousClock.now
        await #expect(throws: OperationTimedOut.self) {
            try await self.timeouts.run(within: .milliseconds(100)) { () async -> Int in
                // Ignores cancellation: waits until the test releases it.
                for await _ in release.stream {}
                return 0
            }
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        release.continuation.finish()
    }

    @Test func cancellingTheCallerCancelsTheOperation() async {
        let started = AsyncStream<Void>.makeStream()
        let caller = Task {
            try await self.timeouts.run(within: .seconds(60)) { () async throws -> Int in
                started.continuation.yield()
                try await Task.sleep(for: .seconds(60))
                return 0
            }
        }
        for await _ in started.stream { break }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(self.timeouts.pending == 0)
    }

    @Test func manyConcurrentOperationsEachGetTheirOwnOutcome() async throws {
        let results = try await withThrowingTaskGroup(of: (Int, Result<Int, OperationTimedOut>).self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        let value = try await self.timeouts.run(within: .milliseconds(index % 2 == 0 ? 5_000 : 50)) {
                            () async throws -> Int in
                            if index % 2 == 1 { try await Task.sleep(for: .seconds(30)) }
                            return index
                        }
                        return (index, .success(value))
                    } catch let error as OperationTimedOut {
                        return (index, .failure(error))
                    }
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (index, result) in results {
            if index % 2 == 0 {
                #expect(result == .success(index))
            } else {
                #expect(result == .failure(OperationTimedOut(limit: .milliseconds(50))))
            }
        }
        #expect(results.count == 200)
        #expect(self.timeouts.pending == 0)
    }
}
