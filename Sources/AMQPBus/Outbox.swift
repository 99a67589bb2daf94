import BookstoreCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed outbox file operation.
struct OutboxIOError: Error, CustomStringConvertible, Sendable {
    let description: String

    init(_ operation: String, path: String, errno code: Int32 = errno) {
        self.description = "\(operation) \(path): \(String(cString: strerror(code)))"
    }
}

/// The durable local buffer of messages the broker has not confirmed yet.
///
/// Layout: `<base>/slot-<n>/` holds `outbox.jsonl` (one `OutboxRecord` per line, appended and fsync'd before a
/// publish returns), `cursor` (the byte offset up to which the broker confirmed the records) and `lock` (an
/// exclusive `flock`, so replicas of one service sharing `<base>` each own a slot). A line without its newline
/// (a write torn by a crash) is cut off when the outbox is opened. When every record is confirmed the file is
/// truncated. Messages left in slots no running process holds are moved into the opener's slot, so a restarted or
/// replaced process sends them.
///
/// Used from one thread only (the publisher connection's thread).
final class Outbox {
    /// One record read for sending: its message (nil for a line that cannot be decoded) and where it ends.
    struct Entry {
        let message: EventMessage?
        let end: UInt64
    }

    static let dataFileName = "outbox.jsonl"
    static let cursorFileName = "cursor"
    static let lockFileName = "lock"
    static let maximumSlots = 256

    let directory: String
    let maxMessages: Int
    /// The largest the data file may grow (confirmed records stay in it until every record is confirmed), so the
    /// outbox fits the volume it lives on: a publish beyond it fails instead of filling the disk.
    let maxBytes: UInt64
    private var lockDescriptor: Int32
    private var dataDescriptor: Int32
    /// Records before this offset are confirmed.
    private(set) var committedOffset: UInt64 = 0
    /// The next record to hand out with `next()`.
    private(set) var readOffset: UInt64 = 0
    private(set) var endOffset: UInt64 = 0
    /// Records not confirmed yet (handed out or not).
    private(set) var pendingCount = 0
    private var readBuffer: [UInt8] = []
    private var readBufferOffset: UInt64 = 0

    private var dataPath: String { self.directory + "/" + Self.dataFileName }
    private var cursorPath: String { self.directory + "/" + Self.cursorFileName }

    /// Opens the first slot under `base` no other process holds, then moves the pending records of slots nobody
    /// holds into it.
    /// - Returns: the outbox and the number of records adopted from other slots.
    static func open(base: String, maxMessages: Int, maxBytes: UInt64 = .max) throws(OutboxIOError) -> (outbox: Outbox, adopted: Int) {
        try self.makeDirectories(base)
        var chosen: Outbox?
        for slot in 0..<self.maximumSlots {
            let directory = base + "/slot-\(slot)"
            guard let lock = try self.lockSlot(directory) else { continue }
            chosen = try Outbox(directory: directory, lockDescriptor: lock, maxMessages: maxMessages, maxBytes: maxBytes)
            break
        }
        guard let outbox = chosen else {
            throw OutboxIOError("no free outbox slot (\(self.maximumSlots) in use)", path: base, errno: EBUSY)
        }
        var adopted = 0
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for name in names.sorted() where name.hasPrefix("slot-") && base + "/" + name != outbox.directory {
            let directory = base + "/" + name
            guard let lock = try? self.lockSlot(directory) else { continue }
            let orphan = try Outbox(directory: directory, lockDescriptor: lock, maxMessages: Int.max, maxBytes: .max)
            defer { orphan.close() }
            guard orphan.pendingCount > 0 else { continue }
            var lines: [[UInt8]] = []
            var entries = 0
            var end: UInt64 = 0
            while let entry = try orphan.next() {
                entries += 1
                end = entry.end
                if let message = entry.message { lines.append(OutboxRecord.encode(message)) }
            }
            try outbox.appendLines(lines)
            try orphan.commit(entries: entries, through: end)
            adopted += lines.count
        }
        return (outbox, adopted)
    }

    /// Takes the exclusive lock of a slot, creating it; nil when another process holds it.
    private static func lockSlot(_ directory: String) throws(OutboxIOError) -> Int32? {
        try self.makeDirectories(directory)
        let path = directory + "/" + self.lockFileName
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw OutboxIOError("open", path: path) }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            Glibc.close(descriptor)
            return nil
        }
        return descriptor
    }

    private static func makeDirectories(_ path: String) throws(OutboxIOError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw OutboxIOError("create directory", path: path, errno: EACCES)
        }
    }

    private init(directory: String, lockDescriptor: Int32, maxMessages: Int, maxBytes: UInt64) throws(OutboxIOError) {
        self.directory = directory
        self.lockDescriptor = lockDescriptor
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        let path = directory + "/" + Self.dataFileName
        self.dataDescriptor = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard self.dataDescriptor >= 0 else {
            let error = OutboxIOError("open", path: path)
            // Every stored property is set, so deinit runs too: close through close(), which marks what it closed
            // (closing the lock here directly and again in deinit could close a descriptor reused meanwhile).
            self.close()
            throw error
        }
        do {
            try self.recover()
        } catch {
            self.close()
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Releases the slot.
    func close() {
        if self.dataDescriptor >= 0 {
            Glibc.close(self.dataDescriptor)
            self.dataDescriptor = -1
        }
        if self.lockDescriptor >= 0 {
            Glibc.close(self.lockDescriptor)
            self.lockDescriptor = -1
        }
    }

    /// Reads the cursor, counts the complete records after it and cuts off a torn last line.
    private func recover() throws(OutboxIOError) {
        var info = stat()
        guard fstat(self.dataDescriptor, &info) == 0 else { throw OutboxIOError("stat", path: self.dataPath) }
        let size = UInt64(info.st_size)
        var cursor = self.readCursor()
        if cursor > size { cursor = 0 }
        var count = 0
        var completeEnd = cursor
        var offset = cursor
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while offset < size {
            let read = chunk.withUnsafeMutableBytes { pread(self.dataDescriptor, $0.baseAddress, $0.count, off_t(offset)) }
            guard read > 0 else {
                if read < 0, errno == EINTR { continue }
                throw OutboxIOError("read", path: self.dataPath)
            }
            for index in 0..<read where chunk[index] == UInt8(ascii: "\n") {
                count += 1
                completeEnd = offset + UInt64(index) + 1
            }
            offset += UInt64(read)
        }
        if completeEnd < size {
            guard ftruncate(self.dataDescriptor, off_t(completeEnd)) == 0 else { throw OutboxIOError("truncate", path: self.dataPath) }
            _ = fsync(self.dataDescriptor)
        }
        self.committedOffset = cursor
        self.readOffset = cursor
        self.endOffset = completeEnd
        self.pendingCount = count
        if count == 0, completeEnd > 0 { try self.compact() }
    }

    // MARK: Writing

    /// Appends `message` durably (written and fsync'd when this returns).
    func append(_ message: EventMessage) throws(AMQPBusError) {
        guard self.pendingCount < self.maxMessages else { throw AMQPBusError.outboxFull(limit: self.maxMessages) }
        let record = OutboxRecord.encode(message)
        guard self.endOffset + UInt64(record.count + 1) <= self.maxBytes else { throw AMQPBusError.outboxFull(bytes: self.maxBytes) }
        do {
            try self.appendLines([record])
        } catch {
            throw AMQPBusError.outboxUnavailable(error.description)
        }
    }

    /// Appends records with one fsync; on failure the file is rolled back to its previous end.
    private func appendLines(_ lines: [[UInt8]]) throws(OutboxIOError) {
        guard !lines.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            bytes += line
            bytes.append(UInt8(ascii: "\n"))
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(self.dataDescriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let error = OutboxIOError("write", path: self.dataPath)
                _ = ftruncate(self.dataDescriptor, off_t(self.endOffset))
                throw error
            }
            written += result
        }
        guard fdatasync(self.dataDescriptor) == 0 else {
            let error = OutboxIOError("fsync", path: self.dataPath)
            _ = ftruncate(self.dataDescriptor, off_t(self.endOffset))
            throw error
        }
        self.endOffset += UInt64(bytes.count)
        self.pendingCount += lines.count
    }

    // MARK: Reading

    /// The next record after the ones already handed out, or nil when all are.
    func next() throws(OutboxIOError) -> Entry? {
        guard self.readOffset < self.endOffset else { return nil }
        if self.readOffset < self.readBufferOffset || self.readOffset > self.readBufferOffset + UInt64(self.readBuffer.count) {
            self.readBuffer.removeAll(keepingCapacity: true)
            self.readBufferOffset = self.readOffset
        }
        var start = Int(self.readOffset - self.readBufferOffset)
        var searchFrom = start
        while true {
            if let newline = self.readBuffer[searchFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = self.readBuffer[start..<newline]
                let end = self.readBufferOffset + UInt64(newline) + 1
                self.readOffset = end
                let message = OutboxRecord.decode(line)
                if newline + 1 > (1 << 20) {
                    self.readBuffer.removeFirst(newline + 1)
                    self.readBufferOffset = end
                }
                return Entry(message: message, end: end)
            }
            searchFrom = self.readBuffer.count
            let fileOffset = self.readBufferOffset + UInt64(self.readBuffer.count)
            guard fileOffset < self.endOffset else { return nil }
            let wanted = Int(min(UInt64(1 << 16), self.endOffset - fileOffset))
            var chunk = [UInt8](repeating: 0, count: wanted)
            let read = chunk.withUnsafeMutableBytes { pread(self.dataDescriptor, $0.baseAddress, $0.count, off_t(fileOffset)) }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { throw OutboxIOError("read", path: self.dataPath) }
            self.readBuffer += chunk[0..<read]
            start = Int(self.readOffset - self.readBufferOffset)
        }
    }

    /// Hands out the unconfirmed records again, from the first one (after a lost connection).
    func rewind() {
        self.readOffset = self.committedOffset
    }

    /// Records that the broker confirmed the next `entries` records, which end at `end`.
    func commit(entries: Int, through end: UInt64) throws(OutboxIOError) {
        guard entries > 0, end > self.committedOffset else { return }
        self.committedOffset = end
        self.pendingCount = max(0, self.pendingCount - entries)
        if self.readOffset < end { self.readOffset = end }
        if self.committedOffset >= self.endOffset {
            try self.compact()
        } else {
            try self.writeCursor(self.committedOffset)
        }
    }

    /// Empties the file once every record is confirmed. The cursor is reset first: had the file been truncated first
    /// and the cursor write then failed, the stale cursor would point into records appended later, which a restart
    /// would skip. In this order a failure between the two steps at worst re-sends confirmed records (delivery is at
    /// least once; consumers deduplicate on `message_id`).
    private func compact() throws(OutboxIOError) {
        try self.writeCursor(0)
        guard ftruncate(self.dataDescriptor, 0) == 0 else { throw OutboxIOError("truncate", path: self.dataPath) }
        _ = fsync(self.dataDescriptor)
        self.committedOffset = 0
        self.readOffset = 0
        self.endOffset = 0
        self.pendingCount = 0
        self.readBuffer.removeAll(keepingCapacity: false)
        self.readBufferOffset = 0
    }

    // MARK: Cursor

    private func readCursor() -> UInt64 {
        guard let text = try? String(contentsOfFile: self.cursorPath, encoding: .utf8) else { return 0 }
        return UInt64(text.trimmingWhitespace()) ?? 0
    }

    /// Replaces the cursor file atomically (write a temporary file, fsync, rename).
    private func writeCursor(_ offset: UInt64) throws(OutboxIOError) {
        let temporary = self.cursorPath + ".tmp"
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw OutboxIOError("open", path: temporary) }
        let bytes = Array("\(offset)\n".utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        Glibc.close(descriptor)
        guard written == bytes.count, synced == 0 else { throw OutboxIOError("write", path: temporary) }
        guard rename(temporary, self.cursorPath) == 0 else { throw OutboxIOError("rename", path: self.cursorPath) }
    }
}
