import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go. Lines are written whole, so concurrent lines never interleave.
///
/// ``standardOutput`` buffers: a caller appends its line to a buffer under a lock and returns; a writer thread of the
/// sink's own wakes at most once per flush interval and writes everything pending with one `write(2)`. The two buffers
/// swap, so a steady stream of lines allocates nothing. Lines reach the file descriptor in the order they were logged,
/// at most one flush interval late; ``flush()`` (also run at process exit) writes what is pending at once. When more than
/// ``bufferLimit`` bytes are pending (the reader of standard output stalls), the caller writes them itself: the log
/// slows the caller down rather than drop lines or grow without bound.
public final class LogSink: Sendable {
    private enum Kind {
        case capturing(CapturedLines)
        case buffered(BufferedFileWriter)
    }

    private let kind: Kind

    private init(_ kind: Kind) {
        self.kind = kind
    }

    /// Standard output, buffered and flushed every 20 ms and at exit.
    public static let standardOutput: LogSink = {
        let sink = LogSink.buffered(fileDescriptor: 1, flushInterval: .milliseconds(20))
        atexit { LogSink.standardOutput.flush() }
        return sink
    }()

    /// A sink writing to `fileDescriptor` (which it does not close) from a writer thread, every `flushInterval`.
    public static func buffered(fileDescriptor: Int32, flushInterval: Duration) -> LogSink {
        LogSink(.buffered(BufferedFileWriter(fileDescriptor: fileDescriptor, flushInterval: flushInterval)))
    }

    /// An in-memory sink for tests.
    public static func capturing() -> LogSink { LogSink(.capturing(CapturedLines())) }

    /// Pending bytes beyond which a caller writes them itself.
    public static let bufferLimit = 4 << 20

    /// The lines captured so far (capturing sinks only).
    public var capturedLines: [String] {
        guard case .capturing(let lines) = self.kind else { return [] }
        return lines.lines.withLock { $0 }
    }

    /// Writes every pending line now.
    public func flush() {
        if case .buffered(let writer) = self.kind { writer.flush() }
    }

    /// Takes one line, ending in a newline.
    func write(_ line: [UInt8]) {
        switch self.kind {
        case .capturing(let captured): captured.lines.withLock { $0.append(String(decoding: line.dropLast(), as: UTF8.self)) }
        case .buffered(let writer): writer.append(line)
        }
    }
}

/// The lines of a capturing ``LogSink``.
final class CapturedLines: Sendable {
    let lines = Mutex<[String]>([])
}

/// The buffer and writer thread of a buffered ``LogSink``.
final class BufferedFileWriter: Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        /// The writer thread was woken and has not yet taken the pending bytes.
        var isWakeRequested = false
        var isThreadStarted = false
    }

    private let fileDescriptor: Int32
    private let flushInterval: Duration
    private let pending = Mutex(Pending())
    /// Held while a batch is taken and written, so batches reach the file in order.
    private let output = Mutex<[UInt8]>([])
    private let wake = DispatchSemaphore(value: 0)

    init(fileDescriptor: Int32, flushInterval: Duration) {
        self.fileDescriptor = fileDescriptor
        self.flushInterval = flushInterval
    }

    func append(_ line: [UInt8]) {
        let (signal, startThread, overflow) = self.pending.withLock { pending in
            pending.bytes.append(contentsOf: line)
            let signal = !pending.isWakeRequested
            pending.isWakeRequested = true
            let startThread = !pending.isThreadStarted
            pending.isThreadStarted = true
            return (signal, startThread, pending.bytes.count > LogSink.bufferLimit)
        }
        if startThread { self.startThread() }
        if overflow {
            self.flush()
        } else if signal {
            self.wake.signal()
        }
    }

    /// Takes the pending bytes and writes them, in the caller's thread.
    func flush() {
        self.output.withLock { batch in
            self.pending.withLock { pending in
                swap(&pending.bytes, &batch)
                pending.isWakeRequested = false
            }
            Self.writeAll(self.fileDescriptor, batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    private func startThread() {
        let thread = Thread { [self] in
            while true {
                self.wake.wait()
                // Let a burst of lines gather so that one write carries them all.
                Thread.sleep(
                    forTimeInterval: Double(self.flushInterval.components.attoseconds) / 1e18 + Double(self.flushInterval.components.seconds)
                )
                self.flush()
            }
        }
        thread.name = "log-writer"
        thread.start()
    }

    private static func writeAll(_ fileDescriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
