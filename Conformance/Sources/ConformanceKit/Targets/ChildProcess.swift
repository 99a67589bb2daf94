import Foundation
import Synchronization

/// Bytes a child process wrote, kept in memory up to a bound.
final class OutputBuffer: Sendable {
    static let maximum = 4 << 20
    private let bytes = Mutex<[UInt8]>([])
    /// Whether the reader of ``makePipe()`` reached the end of the stream.
    private let ended = Atomic<Bool>(false)

    func append(_ data: some Collection<UInt8>) {
        self.bytes.withLock { buffer in
            if buffer.count < Self.maximum { buffer.append(contentsOf: data.prefix(Self.maximum - buffer.count)) }
        }
    }

    var text: String { String(decoding: self.bytes.withLock { $0 }, as: UTF8.self) }

    /// A pipe whose output lands in this buffer, read with blocking reads on a thread of its own until the end of
    /// the stream.
    ///
    /// Not with `FileHandle.readabilityHandler`: on Linux that is a libdispatch read source, and libdispatch's epoll
    /// bookkeeping races when such sources are torn down (the handler cleared at the end of the stream) while others
    /// are set up or get events (children starting and ending concurrently, as the tests run them): its manager thread
    /// is left with an epoll event for a muxnote already freed and dereferences it, which crashed the test process
    /// (SIGSEGV in `_dispatch_event_loop_drain`; swift-corelibs-libdispatch#949, swift-corelibs-foundation#3276).
    func makePipe() -> Pipe {
        let pipe = Pipe()
        let reader = pipe.fileHandleForReading
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(reader.fileDescriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    self.append(chunk[0..<count])
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    // The end of the stream (every writer closed it), or an error.
                    self.ended.store(true, ordering: .releasing)
                    return
                }
            }
        }
        thread.name = "child-output"
        thread.start()
        return pipe
    }

    /// Waits until the reader of ``makePipe()`` reached the end of the stream (every byte the child wrote is in the
    /// buffer), or `timeout` passed (a grandchild may hold the pipe open).
    func waitForEnd(timeout: Duration) async {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !self.ended.load(ordering: .acquiring), clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A child process with its output kept in memory (bounded) or written to a log file.
public final class ChildProcess: Sendable {
    private let process: Mutex<Process>
    private let standardOutput = OutputBuffer()
    private let standardError = OutputBuffer()

    /// Starts `executable` with `arguments`. Standard output and error are captured separately, or both written
    /// to `logPath` when given.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil, logPath: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        if let logPath {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: logPath) else { throw TargetError("cannot write \(logPath)") }
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = self.standardOutput.makePipe()
            process.standardError = self.standardError.makePipe()
        }
        do {
            try process.run()
        } catch {
            throw TargetError("cannot start \(executable): \(error.localizedDescription)")
        }
        self.process = Mutex(process)
    }

    public var isRunning: Bool { self.process.withLock { $0.isRunning } }
    public var processIdentifier: Int32 { self.process.withLock { $0.processIdentifier } }
    public var exitStatus: Int32? { self.process.withLock { $0.isRunning ? nil : $0.terminationStatus } }
    public var outputText: String { self.standardOutput.text }
    public var errorText: String { self.standardError.text }

    /// Waits until the process exits or `timeout` passes; true when it exited.
    public func wait(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while self.isRunning, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !self.isRunning
    }

    /// SIGTERM, then SIGKILL after `grace`.
    public func terminate(grace: Duration = .seconds(10)) async {
        guard self.isRunning else { return }
        let pid = self.processIdentifier
        if pid > 0 { kill(pid, SIGTERM) }
        if await self.wait(timeout: grace) { return }
        if pid > 0 { kill(pid, SIGKILL) }
        _ = await self.wait(timeout: .seconds(5))
    }

    /// Runs a command to completion within `timeout`.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, output: String, error: String) {
        let child = try ChildProcess(executable: executable, arguments: arguments)
        guard await child.wait(timeout: timeout) else {
            await child.terminate(grace: .seconds(2))
            throw TargetError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout.asSeconds)) s")
        }
        // Let the pipe readers take the last bytes.
        await child.standardOutput.waitForEnd(timeout: .seconds(1))
        await child.standardError.waitForEnd(timeout: .seconds(1))
        return (child.exitStatus ?? -1, child.outputText, child.errorText)
    }
}
