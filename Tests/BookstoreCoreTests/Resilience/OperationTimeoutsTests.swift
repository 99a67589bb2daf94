import BookstoreCore
import Synchronization
import Testing

/// Bounded: an implementation that waits for an operation past its limit fails here instead of hanging the run.
@Suite(.timeLimit(.minutes(1))) struct OperationTimeoutsTests {
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

    @Test func anOperationThatIgnoresCancellationDoesNotHoldTheCallerPastItsLimit() async throws {
        // A bare continuation: cancelling its task does not resume it (an `AsyncStream` would end on cancellation).
        let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let answer = Mutex<Result<Int, any Error>?>(nil)
        let caller = Task {
            let result: Result<Int, any Error>
            do {
                result = .success(
                    try await self.timeouts.run(within: .milliseconds(100)) { () async -> Int in
                        await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } }
                        return 0
                    }
                )
            } catch {
                result = .failure(error)
            }
            answer.withLock { $0 = result }
        }
        // The caller must have its answer well before the operation is let go (bounded: this fails, not hangs, when
        // the caller waits for the operation).
        let deadline = ContinuousClock.now + .seconds(5)
        while answer.withLock({ $0 == nil }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let early = answer.withLock { $0 }
        // Let the operation finish (its result is dropped), then the caller.
        while true {
            if let continuation = parked.withLock({ $0.take() }) {
                continuation.resume()
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        await caller.value
        let result = try #require(early, "the caller was held until the operation finished")
        #expect(throws: OperationTimedOut.self) { try result.get() }
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
