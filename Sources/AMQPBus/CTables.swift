import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the C memory behind the AMQP structures built for one call (strings, tables, properties) and frees it all
/// when it is released. Used on one thread only.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for allocation in self.allocations { free(allocation) }
    }

    /// A copy of `bytes` as `amqp_bytes_t`.
    func bytes(_ bytes: some Collection<UInt8>) -> amqp_bytes_t {
        guard !bytes.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        guard let memory = malloc(bytes.count) else { fatalError("out of memory") }
        self.allocations.append(memory)
        let buffer = UnsafeMutableRawBufferPointer(start: memory, count: bytes.count)
        _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        return amqp_bytes_t(len: bytes.count, bytes: memory)
    }

    func bytes(_ string: String) -> amqp_bytes_t { self.bytes(Array(string.utf8)) }

    /// A NUL-terminated copy of `string`, alive as long as the arena.
    func cString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        guard let memory = malloc(utf8.count) else { fatalError("out of memory") }
        self.allocations.append(memory)
        let typed = memory.bindMemory(to: CChar.self, capacity: utf8.count)
        typed.initialize(from: utf8, count: utf8.count)
        return UnsafePointer(typed)
    }

    /// `table` as an `amqp_table_t`.
    /// `table` with `nested` tables appended as table-valued entries (client properties' `capabilities`).
    func table(_ table: FieldTable, nested: [(key: String, table: FieldTable)]) -> amqp_table_t {
        let flat = self.table(table)
        guard !nested.isEmpty else { return flat }
        let count = table.count + nested.count
        guard let memory = calloc(1, MemoryLayout<amqp_table_entry_t>.stride * count) else { fatalError("out of memory") }
        self.allocations.append(memory)
        let entries = memory.bindMemory(to: amqp_table_entry_t.self, capacity: count)
        for index in 0..<table.count { (entries + index).initialize(to: flat.entries[index]) }
        for (offset, entry) in nested.enumerated() {
            var value = amqp_field_value_t()
            value.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            value.value.table = self.table(entry.table)
            (entries + table.count + offset).initialize(to: amqp_table_entry_t(key: self.bytes(entry.key), value: value))
        }
        return amqp_table_t(num_entries: Int32(count), entries: entries)
    }

    func table(_ table: FieldTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let size = MemoryLayout<amqp_table_entry_t>.stride * table.count
        guard let memory = calloc(1, size) else { fatalError("out of memory") }
        self.allocations.append(memory)
        let entries = memory.bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        for (index, entry) in table.enumerated() {
            var value = amqp_field_value_t()
            switch entry.value {
            case .string(let string):
                value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                value.value.bytes = self.bytes(string)
            case .int64(let integer):
                value.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                value.value.i64 = integer
            case .bool(let flag):
                value.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                value.value.boolean = flag ? 1 : 0
            }
            (entries + index).initialize(to: amqp_table_entry_t(key: self.bytes(entry.key), value: value))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    /// `properties` as `amqp_basic_properties_t`.
    func properties(_ properties: WireProperties) -> amqp_basic_properties_t {
        var result = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let contentType = properties.contentType {
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
            result.content_type = self.bytes(contentType)
        }
        if let mode = properties.deliveryMode {
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
            result.delivery_mode = mode
        }
        if let messageID = properties.messageID {
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
            result.message_id = self.bytes(messageID)
        }
        if let correlationID = properties.correlationID {
            flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
            result.correlation_id = self.bytes(correlationID)
        }
        if let replyTo = properties.replyTo {
            flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG)
            result.reply_to = self.bytes(replyTo)
        }
        if let timestamp = properties.timestamp {
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
            result.timestamp = timestamp
        }
        if let appID = properties.appID {
            flags |= UInt32(AMQP_BASIC_APP_ID_FLAG)
            result.app_id = self.bytes(appID)
        }
        if !properties.headers.isEmpty {
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
            result.headers = self.table(properties.headers)
        }
        result._flags = flags
        return result
    }
}

/// Reading AMQP C structures into Swift values (copies; nothing keeps pointing into rabbitmq-c's pools).
enum CDecode {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    static func byteArray(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let pointer = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }

    /// The scalar entries of `table`; nested tables, arrays and voids are left out.
    static func table(_ table: amqp_table_t) -> FieldTable {
        guard table.num_entries > 0, let entries = table.entries else { return [] }
        var result: FieldTable = []
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            if let value = self.value(entry.value) {
                result.append((key: self.string(entry.key), value: value))
            }
        }
        return result
    }

    static func value(_ field: amqp_field_value_t) -> FieldValue? {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: .string(self.string(field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: .int64(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: .int64(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: .int64(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: .int64(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: .int64(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: .int64(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: .int64(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue, AMQP_FIELD_KIND_TIMESTAMP.rawValue:
            field.value.u64 <= UInt64(Int64.max) ? .int64(Int64(field.value.u64)) : .string(String(field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: .string(String(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: .string(String(field.value.f64))
        default: nil
        }
    }

    static func properties(_ properties: amqp_basic_properties_t) -> WireProperties {
        let flags = properties._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        return WireProperties(
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? self.string(properties.content_type) : nil,
            deliveryMode: has(AMQP_BASIC_DELIVERY_MODE_FLAG) ? properties.delivery_mode : nil,
            messageID: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? self.string(properties.message_id) : nil,
            correlationID: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? self.string(properties.correlation_id) : nil,
            replyTo: has(AMQP_BASIC_REPLY_TO_FLAG) ? self.string(properties.reply_to) : nil,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? properties.timestamp : nil,
            appID: has(AMQP_BASIC_APP_ID_FLAG) ? self.string(properties.app_id) : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? self.table(properties.headers) : []
        )
    }
}
