import Synchronization

/// An operation that did not finish within its time limit.
public struct OperationTimedOut: Error, Sendable, Equatable {
    public let limit: Duration

    public init(limit: Duration) {
        self.limit = limit
    }
}

/// Runs operations under a time limit, watched by one shared ticker rather than a timer per operation.
///
/// A per-operation timer (a task group with a `Task.sleep` child) costs a dispatch timer that is armed on every call
/// and fires long after the operation has finished; under load that was ~13 % of a database-bound service's CPU.
/// Here each operation is registered with its deadline in a table that one ticker scans every `tick` while anything
/// is registered, so a limit fires between `limit` and `limit + tick` after the start.
///
/// When the limit passes, the caller gets ``OperationTimedOut`` at once and the operation's task is cancelled; an
/// operation that ignores cancellation finishes in the background and its result is dropped, so a hung dependency
/// cannot hold the caller past its limit.
public final class OperationTimeouts: Sendable {
    /// The process-wide instance (a 50 ms tick).
    public static let shared = OperationTimeouts(tick: .milliseconds(50))

    private struct Entry {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())
    private let tick: Duration

    public init(tick: Duration) {
        self.tick = tick
    }

    /// How many operations are registered (for tests).
    public var pending: Int { self.state.withLock { $0.entries.count } }

    /// Runs `body` in a task of its own (started at once on the caller's thread); throws ``OperationTimedOut`` when it has not finished within `limit`.
    /// Cancelling the caller cancels `body`.
    public func run<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        // Started on this thread (up to its first suspension) rather than enqueued: one scheduling hop fewer per
        // operation. Its deadline is registered when it first suspends, before anything can wait on it.
        let worker = Task.immediate {
            do {
                outcome.finish(.success(try await body()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        let id = self.register(deadline: .now + limit) {
            outcome.finish(.failure(OperationTimedOut(limit: limit)))
            worker.cancel()
        }
        defer { self.unregister(id) }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            worker.cancel()
        }
    }

    private func register(deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, startTicker) = self.state.withLock { state in
            let id = state.nextID
            state.nextID &+= 1
            state.entries[id] = Entry(deadline: deadline, expire: expire)
            defer { state.ticking = true }
            return (id, !state.ticking)
        }
        if startTicker {
            Task.detached { await self.runTicker() }
        }
        return id
    }

    private func unregister(_ id: UInt64) {
        _ = self.state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Scans the table every tick, expiring what is due, until the table is empty.
    private func runTicker() async {
        while true {
            try? await Task.sleep(for: self.tick)
            let now = ContinuousClock.now
            let (due, done) = self.state.withLock { state -> ([Entry], Bool) in
                var due: [Entry] = []
                for (id, entry) in state.entries where entry.deadline <= now {
                    due.append(entry)
                    state.entries.removeValue(forKey: id)
                }
                if state.entries.isEmpty { state.ticking = false }
                return (due, !state.ticking)
            }
            for entry in due { entry.expire() }
            if done { return }
        }
    }
}

/// The first of an operation's result and its expiry, handed to the one caller waiting for it.
private final class Outcome<T: Sendable>: Sendable {
    private enum State {
        case pending
        case waiting(UnsafeContinuation<T, any Error>)
        case finished(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex(State.pending)

    /// Records `result` unless one was recorded already, resuming the waiter if there is one.
    func finish(_ result: Result<T, any Error>) {
        let waiter: UnsafeContinuation<T, any Error>? = self.state.withLock { state in
            switch state {
            case .pending:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .delivered
                return continuation
            case .finished, .delivered:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// The first result recorded, waiting for it if need be.
    func value() async throws -> T {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            let ready: Result<T, any Error>? = self.state.withLock { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .finished(let result):
                    state = .delivered
                    return result
                case .waiting, .delivered:
                    preconditionFailure("an outcome has one waiter")
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
