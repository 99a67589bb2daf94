import BookstoreCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state machine of one AMQP connection, driven by a `ConnectionThread`. Every method runs on that thread.
protocol ConnectionSession: AnyObject, SendableMetatype {
    /// The connection's socket while connected (the thread wakes when it is readable).
    var socketDescriptor: Int32? { get }
    /// Whether frames are already buffered, so the thread must not sleep.
    var hasBufferedFrames: Bool { get }
    /// Does what is due (reconnect, read frames, heartbeats, timeouts, flushing) and returns how long the thread may
    /// sleep when nothing else happens.
    func service() -> Duration
    /// Finishes the work in progress (bounded) and closes the connection.
    func shutdown()
}

/// A dedicated OS thread that owns one rabbitmq-c connection (the library's blocking calls never run on an event loop
/// or on the Swift concurrency pool). Work arrives as jobs; between jobs the thread waits in `poll` on the socket and
/// on a wake-up pipe, so a job or a frame is handled at once and heartbeats are serviced at least every second.
final class ConnectionThread<Session: ConnectionSession>: Sendable {
    typealias Job = @Sendable (Session) -> Void

    private enum Phase {
        case notStarted
        case running
        case stopping
        case stopped
    }

    private struct State {
        var phase = Phase.notStarted
        var jobs: [Job] = []
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let name: String
    private let state = Mutex(State())
    private let makeSession: @Sendable () -> Session
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// - Parameter makeSession: creates the session on the thread.
    init(name: String, makeSession: @escaping @Sendable () -> Session) {
        self.name = name
        self.makeSession = makeSession
        var descriptors: [Int32] = [-1, -1]
        if pipe(&descriptors) == 0 {
            for descriptor in descriptors {
                _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
                _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            }
        }
        self.wakeRead = descriptors[0]
        self.wakeWrite = descriptors[1]
    }

    deinit {
        if self.wakeRead >= 0 { close(self.wakeRead) }
        if self.wakeWrite >= 0 { close(self.wakeWrite) }
    }

    /// Starts the thread (once; later calls do nothing).
    func start() {
        let start = self.state.withLock { state -> Bool in
            guard state.phase == .notStarted else { return false }
            state.phase = .running
            return true
        }
        guard start else { return }
        let thread = Thread { self.main() }
        thread.name = self.name
        thread.start()
    }

    /// Runs `job` on the thread; false when the thread has stopped.
    @discardableResult
    func submit(_ job: @escaping Job) -> Bool {
        let accepted = self.state.withLock { state -> Bool in
            guard state.phase == .running || state.phase == .stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { self.wake() }
        return accepted
    }

    /// Runs `body` on the thread and waits for the result it reports through its completion handler.
    func call<T: Sendable>(
        _ body: @escaping @Sendable (Session, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void
    ) async throws -> T {
        self.start()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = self.submit { session in
                body(session) { result in continuation.resume(with: result) }
            }
            if !accepted { continuation.resume(throwing: AMQPBusError.shutDown) }
        }
    }

    /// Runs the jobs already submitted, lets the session finish and close, and ends the thread.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = self.state.withLock { state -> Bool in
                switch state.phase {
                case .notStarted, .stopped:
                    state.phase = .stopped
                    return true
                case .running, .stopping:
                    state.phase = .stopping
                    state.stopWaiters.append(continuation)
                    return false
                }
            }
            if resumeNow {
                continuation.resume()
            } else {
                self.wake()
            }
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(self.wakeWrite, &byte, 1)
    }

    private func main() {
        let session = self.makeSession()
        while true {
            let (jobs, stopping) = self.state.withLock { state -> ([Job], Bool) in
                let jobs = state.jobs
                state.jobs.removeAll()
                return (jobs, state.phase == .stopping)
            }
            for job in jobs { job(session) }
            if stopping, jobs.isEmpty { break }
            let sleep = session.service()
            if !jobs.isEmpty || session.hasBufferedFrames { continue }
            self.wait(socket: session.socketDescriptor, timeout: sleep)
        }
        session.shutdown()
        let (jobs, waiters) = self.state.withLock { state -> ([Job], [CheckedContinuation<Void, Never>]) in
            state.phase = .stopped
            defer {
                state.jobs.removeAll()
                state.stopWaiters.removeAll()
            }
            return (state.jobs, state.stopWaiters)
        }
        // Jobs that raced with the stop still run (against the closed session), so their callers are answered.
        for job in jobs { job(session) }
        for waiter in waiters { waiter.resume() }
    }

    /// Sleeps until a job arrives, the socket is readable, or `timeout` (at most one second) has passed.
    private func wait(socket: Int32?, timeout: Duration) {
        let milliseconds = Int32(min(1000, max(0, Backoff.nanoseconds(timeout) / 1_000_000)))
        var descriptors = [pollfd(fd: self.wakeRead, events: Int16(POLLIN), revents: 0)]
        if let socket, socket >= 0 {
            descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
        }
        _ = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        if descriptors[0].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(self.wakeRead, &buffer, buffer.count) > 0 {}
        }
    }
}
