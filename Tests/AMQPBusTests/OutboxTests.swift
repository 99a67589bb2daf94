import BookstoreCore
import Foundation
import Testing

@testable import AMQPBus

@Suite struct OutboxRecordTests {
    @Test func roundTripsEveryField() throws {
        let message = EventMessage(
            exchange: "payment_exchange",
            routingKey: "payment.completed",
            body: Array("{\"amount\":19.90}\n\u{0}\u{ff}".utf8) + [0, 255, 10, 13],
            messageID: "m-1",
            correlationID: "c-1",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000.123),
            contentType: "application/json",
            replyTo: "replies",
            headers: ["X-Request-ID": "r-1", "traceparent": "00-abc-def-01", "x-attempt": "3", "line\nbreak": "a\"b\\c"]
        )
        let line = OutboxRecord.encode(message)
        #expect(!line.contains(UInt8(ascii: "\n")))
        let decoded = try #require(OutboxRecord.decode(line))
        #expect(decoded == message)
    }

    @Test func keepsAMissingReplyToMissing() throws {
        let message = EventMessage(exchange: "", routingKey: "q", body: [], timestamp: Date(timeIntervalSince1970: 1))
        #expect(try #require(OutboxRecord.decode(OutboxRecord.encode(message))).replyTo == nil)
    }

    @Test func rejectsTornAndForeignLines() {
        let line = OutboxRecord.encode(EventMessage(exchange: "e", routingKey: "k", body: [1, 2, 3]))
        #expect(OutboxRecord.decode(line.dropLast(5)) == nil)
        #expect(OutboxRecord.decode(Array("{}".utf8)) == nil)
        #expect(OutboxRecord.decode(Array("{\"v\":2}".utf8)) == nil)
        #expect(OutboxRecord.decode(Array("not json".utf8)) == nil)
    }
}

@Suite struct OutboxTests {
    private func message(_ index: Int) -> EventMessage {
        EventMessage(
            exchange: "ex",
            routingKey: "k.\(index)",
            body: Array("{\"n\":\(index)}".utf8),
            messageID: "id-\(index)",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000 + Double(index))
        )
    }

    /// Reads every record the outbox hands out.
    private func drain(_ outbox: Outbox) throws -> [Outbox.Entry] {
        var entries: [Outbox.Entry] = []
        while let entry = try outbox.next() { entries.append(entry) }
        return entries
    }

    @Test func replaysInOrderAndEmptiesWhenEverythingIsConfirmed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let (outbox, adopted) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { outbox.close() }
        #expect(adopted == 0)
        for index in 0..<10 { try outbox.append(self.message(index)) }
        #expect(outbox.pendingCount == 10)

        let entries = try self.drain(outbox)
        #expect(entries.compactMap(\.message?.messageID) == (0..<10).map { "id-\($0)" })
        #expect(try outbox.next() == nil)

        try outbox.commit(entries: 4, through: entries[3].end)
        #expect(outbox.pendingCount == 6)
        // A lost connection: the unconfirmed records are handed out again, in order.
        outbox.rewind()
        #expect(try self.drain(outbox).compactMap(\.message?.messageID) == (4..<10).map { "id-\($0)" })

        try outbox.commit(entries: 6, through: entries[9].end)
        #expect(outbox.pendingCount == 0)
        let size = try FileManager.default.attributesOfItem(atPath: outbox.directory + "/outbox.jsonl")[.size] as? Int
        #expect(size == 0)
        // Appends after a compaction start a new file.
        try outbox.append(self.message(42))
        #expect(try self.drain(outbox).compactMap(\.message?.messageID) == ["id-42"])
    }

    /// A compaction whose cursor write fails (here: the temporary cursor file cannot be created) must not lose the
    /// records appended after it: before the fix the data file was already truncated while the cursor kept its old
    /// offset, and after a restart the records below that offset were skipped.
    @Test func aFailedCursorWriteDuringCompactionLosesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        do {
            let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100)
            for index in 0..<3 { try outbox.append(self.message(index)) }
            var entries = try self.drain(outbox)
            try outbox.commit(entries: 1, through: entries[0].end)  // the cursor now holds a non-zero offset
            let blocker = outbox.directory + "/cursor.tmp"
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
            #expect(throws: OutboxIOError.self) { try outbox.commit(entries: 2, through: entries[2].end) }
            try FileManager.default.removeItem(atPath: blocker)
            for index in 3..<8 { try outbox.append(self.message(index)) }
            entries = try self.drain(outbox)
            #expect(entries.compactMap(\.message?.messageID) == (3..<8).map { "id-\($0)" })
            outbox.close()
        }
        let (reopened, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { reopened.close() }
        let replayed = try self.drain(reopened).compactMap(\.message?.messageID)
        #expect(Set((3..<8).map { "id-\($0)" }).isSubset(of: Set(replayed)), "every unconfirmed record survives: \(replayed)")
    }

    /// The outbox must fit its volume (a Kubernetes emptyDir has a size limit): a record that would grow the file past
    /// `maxBytes` is refused as "outbox full", and the file stays within the limit.
    @Test func refusesRecordsBeyondItsByteLimit() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let record = OutboxRecord.encode(self.message(0)).count + 1
        let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100, maxBytes: UInt64(record * 3 + record / 2))
        defer { outbox.close() }
        for index in 0..<3 { try outbox.append(self.message(index)) }
        #expect(throws: AMQPBusError.outboxFull(bytes: UInt64(record * 3 + record / 2))) { try outbox.append(self.message(3)) }
        let size = try FileManager.default.attributesOfItem(atPath: outbox.directory + "/outbox.jsonl")[.size] as? Int
        #expect(size == record * 3)
        let entries = try self.drain(outbox)
        try outbox.commit(entries: 3, through: entries[2].end)
        try outbox.append(self.message(3))
        #expect(outbox.pendingCount == 1, "space is back once the records are confirmed")
    }

    @Test func survivesARestartWithItsCursor() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        do {
            let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100)
            for index in 0..<5 { try outbox.append(self.message(index)) }
            let entries = try self.drain(outbox)
            try outbox.commit(entries: 2, through: entries[1].end)
            outbox.close()
        }
        let (reopened, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { reopened.close() }
        #expect(reopened.pendingCount == 3)
        #expect(try self.drain(reopened).compactMap(\.message?.messageID) == ["id-2", "id-3", "id-4"])
    }

    @Test func ignoresATornLastLineAndAppendsCleanlyAfterIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let slot: String
        do {
            let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100)
            for index in 0..<3 { try outbox.append(self.message(index)) }
            slot = outbox.directory
            outbox.close()
        }
        // A crash in the middle of a write: half a record, no newline.
        let handle = try #require(FileHandle(forWritingAtPath: slot + "/outbox.jsonl"))
        handle.seekToEndOfFile()
        handle.write(Data(OutboxRecord.encode(self.message(3)).prefix(20)))
        try handle.close()

        let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { outbox.close() }
        #expect(outbox.pendingCount == 3)
        try outbox.append(self.message(4))
        #expect(try self.drain(outbox).compactMap(\.message?.messageID) == ["id-0", "id-1", "id-2", "id-4"])
    }

    @Test func handsOutAnUnreadableCompleteLineWithoutAMessage() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        try outbox.append(self.message(0))
        outbox.close()
        let handle = try #require(FileHandle(forWritingAtPath: outbox.directory + "/outbox.jsonl"))
        handle.seekToEndOfFile()
        handle.write(Data("garbage\n".utf8))
        try handle.close()
        let (reopened, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { reopened.close() }
        try reopened.append(self.message(1))
        let entries = try self.drain(reopened)
        #expect(entries.map { $0.message?.messageID } == ["id-0", nil, "id-1"])
        #expect(reopened.pendingCount == 3)
    }

    @Test func refusesMessagesBeyondItsLimit() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 2)
        defer { outbox.close() }
        try outbox.append(self.message(0))
        try outbox.append(self.message(1))
        #expect(throws: AMQPBusError.outboxFull(limit: 2)) { try outbox.append(self.message(2)) }
        let entries = try self.drain(outbox)
        try outbox.commit(entries: 1, through: entries[0].end)
        try outbox.append(self.message(3))
        #expect(outbox.pendingCount == 2)
    }

    @Test func givesEachProcessItsOwnSlotAndAdoptsAbandonedOnes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let (first, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        let (second, _) = try Outbox.open(base: directory.path, maxMessages: 100)
        #expect(first.directory != second.directory)
        try first.append(self.message(1))
        try second.append(self.message(2))
        try second.append(self.message(3))
        second.close()  // the second process exits with messages left
        first.close()

        let (restarted, adopted) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { restarted.close() }
        #expect(adopted == 2)
        #expect(try self.drain(restarted).compactMap(\.message?.messageID) == ["id-1", "id-2", "id-3"])
        let (other, otherAdopted) = try Outbox.open(base: directory.path, maxMessages: 100)
        defer { other.close() }
        #expect(otherAdopted == 0)
        #expect(other.pendingCount == 0)
    }

    @Test func readsLargeOutboxesInChunks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let (outbox, _) = try Outbox.open(base: directory.path, maxMessages: 10_000)
        defer { outbox.close() }
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
        for index in 0..<30 {
            var message = self.message(index)
            message.body = big
            try outbox.append(message)
        }
        let entries = try self.drain(outbox)
        #expect(entries.count == 30)
        #expect(entries.allSatisfy { $0.message?.body == big })
    }
}
