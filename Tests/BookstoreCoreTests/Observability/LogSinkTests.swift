import BookstoreCore
import Foundation
import JSONKit
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogSinkTests {
    /// A temporary file open for writing, and a way to read it back.
    struct TemporaryFile: ~Copyable {
        let path: String
        let descriptor: Int32

        init() {
            self.path = NSTemporaryDirectory() + "log-sink-\(UUID().uuidString).log"
            self.descriptor = open(self.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }

        deinit {
            close(self.descriptor)
            unlink(self.path)
        }

        var lines: [String] {
            let text = (try? String(contentsOfFile: self.path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    @Test func aBufferedSinkWritesALineWithinItsFlushIntervalWithoutAFlush() async throws {
        let file = TemporaryFile()
        let sink = LogSink.buffered(fileDescriptor: file.descriptor, flushInterval: .milliseconds(5))
        let logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        logger.info("first")
        for _ in 0..<200 where file.lines.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        let line = try #require(file.lines.first)
        #expect(try JSON.parse(line)["message"] == "first")
    }

    @Test func theCallerOnlyBuffersAndFlushWritesWhatIsPending() throws {
        let file = TemporaryFile()
        let sink = LogSink.buffered(fileDescriptor: file.descriptor, flushInterval: .seconds(60))
        let logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        logger.info("one")
        logger.info("two")
        #expect(file.lines.isEmpty)
        sink.flush()
        #expect(try file.lines.map { try JSON.parse($0)["message"] } == ["one", "two"])
    }

    @Test func concurrentLinesArriveWholeAndInEachWritersOrder() async throws {
        let file = TemporaryFile()
        let sink = LogSink.buffered(fileDescriptor: file.descriptor, flushInterval: .milliseconds(2))
        let logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for sequence in 0..<2_000 {
                        logger.info("line", metadata: ["writer": .stringConvertible(writer), "sequence": .stringConvertible(sequence)])
                    }
                }
            }
        }
        sink.flush()
        let lines = file.lines
        #expect(lines.count == 8_000)
        var next = [Int](repeating: 0, count: 4)
        for line in lines {
            let object = try JSON.parse(line)
            let writer = try #require(object["writer"]?.stringValue.flatMap { Int($0) })
            let sequence = try #require(object["sequence"]?.stringValue.flatMap { Int($0) })
            #expect(sequence == next[writer])
            next[writer] = sequence + 1
        }
        #expect(next == [2_000, 2_000, 2_000, 2_000])
    }
}
