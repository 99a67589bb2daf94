import CMongoC
import JSONKit

/// A BSON document on the C heap, owned by Swift: made with `bson_new` (or copied), destroyed on deinit.
///
/// Not `Sendable`: it lives inside one blocking call on the thread pool. Build it from a ``JSONKit/JSONObject`` with
/// libbson's append functions and read it back with `bson_iter`, without going through extended-JSON text.
final class BSONDocument {
    /// The `bson_t *`.
    let pointer: OpaquePointer

    /// An empty document.
    init() {
        self.pointer = bson_new()
    }

    /// A copy of a document the driver owns (a cursor's current document, a reply).
    init(copying document: OpaquePointer) {
        self.pointer = bson_copy(document)
    }

    /// The BSON form of `object` (see ``MongoValue`` for the mapping).
    convenience init(_ object: JSONObject) throws(MongoError) {
        self.init()
        try BSONWriter.appendMembers(of: object, to: self.pointer)
    }

    /// A document from its BSON bytes, validated.
    convenience init(bytes: [UInt8]) throws(MongoError) {
        guard let copy = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
            throw .invalidDocument("not a BSON document")
        }
        self.init(adopting: copy)
        var offset = 0
        let flags = bson_validate_flags_t(BSON_VALIDATE_UTF8.rawValue | BSON_VALIDATE_UTF8_ALLOW_NULL.rawValue)
        guard bson_validate(copy, flags, &offset) else { throw .invalidDocument("invalid BSON at byte \(offset)") }
    }

    private init(adopting pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        bson_destroy(self.pointer)
    }

    /// The document's bytes.
    var bytes: [UInt8] {
        guard let data = bson_get_data(self.pointer) else { return [] }
        // The length is the document's first four bytes (little-endian int32).
        let length = Int(UInt32(data[0]) | UInt32(data[1]) << 8 | UInt32(data[2]) << 16 | UInt32(data[3]) << 24)
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// The document as JSON (see ``MongoValue``).
    func json() throws(MongoError) -> JSONObject {
        try BSONReader.object(of: self.pointer)
    }
}

/// Runs `body` with storage for a `bson_t` that a C function initialises (a command's reply), and destroys it after.
func withReplyDocument<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
    guard let reply = bookstore_bson_storage_new() else { throw MongoError.invalidDocument("out of memory") }
    defer { bookstore_free(UnsafeMutableRawPointer(reply)) }
    bson_init(reply)
    defer { bson_destroy(reply) }
    return try body(reply)
}

/// Appends JSON values to BSON documents with libbson's typed append functions.
enum BSONWriter {
    /// Keys of array elements: `"0"`, `"1"`, …
    private static let arrayKeys: [String] = (0..<1000).map { String($0) }

    static func appendMembers(of object: JSONObject, to document: OpaquePointer) throws(MongoError) {
        for member in object.members {
            try self.append(member.value, key: member.key, to: document)
        }
    }

    static func appendElements(of array: [JSON], to document: OpaquePointer) throws(MongoError) {
        for (index, value) in array.enumerated() {
            try self.append(value, key: index < self.arrayKeys.count ? self.arrayKeys[index] : String(index), to: document)
        }
    }

    static func append(_ value: JSON, key: String, to document: OpaquePointer) throws(MongoError) {
        guard !key.utf8.contains(0) else { throw .invalidDocument("a key contains a NUL character") }
        guard let keyLength = Int32(exactly: key.utf8.count) else { throw .invalidDocument("a key is too long") }
        let appended: Bool
        do {
            appended = try key.withCString { keyPointer in
                try self.append(value, key: keyPointer, length: keyLength, to: document)
            }
        } catch let error as MongoError {
            throw error
        } catch {
            throw .invalidDocument("\(error)")
        }
        guard appended else { throw .invalidDocument("the document is too large") }
    }

    private static func append(_ value: JSON, key: UnsafePointer<CChar>, length: Int32, to document: OpaquePointer) throws -> Bool {
        switch value {
        case .null:
            return bson_append_null(document, key, length)
        case .bool(let flag):
            return bson_append_bool(document, key, length, flag)
        case .string(let text):
            guard let byteCount = Int32(exactly: text.utf8.count) else { throw MongoError.invalidDocument("a string is too long") }
            // withCString never gives NULL (bson_append_utf8 would store null for it), even for "".
            return text.withCString { bson_append_utf8(document, key, length, $0, byteCount) }
        case .number(let literal):
            return try self.appendNumber(literal, key: key, length: length, to: document)
        case .array(let elements):
            return try self.appendChild(array: true, key: key, length: length, to: document) { child throws(MongoError) in
                try self.appendElements(of: elements, to: child)
            }
        case .object(let object):
            if object.count == 1, let member = object.members.first, member.key.utf8.first == UInt8(ascii: "$"),
                let special = try self.appendSpecial(member.key, member.value, key: key, length: length, to: document)
            {
                return special
            }
            return try self.appendChild(array: false, key: key, length: length, to: document) { child throws(MongoError) in
                try self.appendMembers(of: object, to: child)
            }
        }
    }

    /// An integer literal that fits becomes int32 or int64; anything else a double.
    private static func appendNumber(_ literal: String, key: UnsafePointer<CChar>, length: Int32, to document: OpaquePointer) throws -> Bool {
        let isInteger = !literal.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        if isInteger, let integer = Int64(literal) {
            if let small = Int32(exactly: integer) { return bson_append_int32(document, key, length, small) }
            return bson_append_int64(document, key, length, integer)
        }
        guard let double = Double(literal) else { throw MongoError.invalidDocument("invalid number literal") }
        return bson_append_double(document, key, length, double)
    }

    /// The extended-JSON wrappers of ``MongoValue``; nil when `name` is not one of them (then it is a plain document,
    /// such as an operator `{"$inc": …}`).
    private static func appendSpecial(
        _ name: String,
        _ value: JSON,
        key: UnsafePointer<CChar>,
        length: Int32,
        to document: OpaquePointer
    ) throws -> Bool? {
        switch name {
        case "$date":
            guard let millis = MongoValue.dateMilliseconds(from: [name: value]) else { throw MongoError.invalidDocument("invalid $date") }
            return bson_append_date_time(document, key, length, millis)
        case "$numberDecimal":
            guard case .string(let literal) = value, !literal.isEmpty, literal.utf8.allSatisfy({ $0 < 0x80 }) else {
                throw MongoError.invalidDocument("invalid $numberDecimal")
            }
            var decimal = bson_decimal128_t()
            guard bson_decimal128_from_string(literal, &decimal) else { throw MongoError.invalidDocument("invalid $numberDecimal") }
            return bson_append_decimal128(document, key, length, &decimal)
        case "$numberLong":
            guard case .string(let text) = value, let integer = Int64(text) else { throw MongoError.invalidDocument("invalid $numberLong") }
            return bson_append_int64(document, key, length, integer)
        case "$numberDouble":
            guard case .string(let text) = value, let double = Double(text) ?? Self.specialDouble(text) else {
                throw MongoError.invalidDocument("invalid $numberDouble")
            }
            return bson_append_double(document, key, length, double)
        case "$oid":
            guard case .string(let hex) = value, hex.utf8.count == 24, bson_oid_is_valid(hex, 24) else {
                throw MongoError.invalidDocument("invalid $oid")
            }
            var oid = bson_oid_t()
            bson_oid_init_from_string(&oid, hex)
            return bson_append_oid(document, key, length, &oid)
        default:
            return nil
        }
    }

    static func specialDouble(_ text: String) -> Double? {
        switch text {
        case "NaN": .nan
        case "Infinity": .infinity
        case "-Infinity": -.infinity
        default: nil
        }
    }

    private static func appendChild(
        array: Bool,
        key: UnsafePointer<CChar>,
        length: Int32,
        to document: OpaquePointer,
        _ body: (OpaquePointer) throws(MongoError) -> Void
    ) throws(MongoError) -> Bool {
        guard let child = bookstore_bson_storage_new() else { throw .invalidDocument("out of memory") }
        defer { bookstore_free(UnsafeMutableRawPointer(child)) }
        let begun = array ? bson_append_array_begin(document, key, length, child) : bson_append_document_begin(document, key, length, child)
        guard begun else { return false }
        try body(child)
        return array ? bson_append_array_end(document, child) : bson_append_document_end(document, child)
    }
}

/// Reads BSON documents into JSON with `bson_iter`.
enum BSONReader {
    static func object(of document: OpaquePointer) throws(MongoError) -> JSONObject {
        try self.withIterator { iterator throws(MongoError) in
            guard bson_iter_init(iterator, document) else { throw .invalidDocument("corrupt BSON document") }
            return try self.readObject(iterator)
        }
    }

    private static func withIterator<T>(_ body: (OpaquePointer) throws(MongoError) -> T) throws(MongoError) -> T {
        guard let iterator = bookstore_bson_iter_storage_new() else { throw .invalidDocument("out of memory") }
        defer { bookstore_free(UnsafeMutableRawPointer(iterator)) }
        return try body(iterator)
    }

    private static func readObject(_ iterator: OpaquePointer) throws(MongoError) -> JSONObject {
        var object = JSONObject()
        while bson_iter_next(iterator) {
            let keyLength = Int(bson_iter_key_len(iterator))
            let key = bson_iter_key(iterator).map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: keyLength), as: UTF8.self)
            }
            object[key ?? ""] = try self.value(iterator)
        }
        return object
    }

    private static func readArray(_ iterator: OpaquePointer) throws(MongoError) -> [JSON] {
        var array: [JSON] = []
        while bson_iter_next(iterator) {
            array.append(try self.value(iterator))
        }
        return array
    }

    private static func value(_ iterator: OpaquePointer) throws(MongoError) -> JSON {
        switch bson_iter_type(iterator) {
        case BSON_TYPE_NULL, BSON_TYPE_UNDEFINED:
            return .null
        case BSON_TYPE_BOOL:
            return .bool(bson_iter_bool(iterator))
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            guard let text = bson_iter_utf8(iterator, &length) else { return .string("") }
            return .string(String(decoding: UnsafeRawBufferPointer(start: text, count: Int(length)), as: UTF8.self))
        case BSON_TYPE_INT32:
            return .number(String(bson_iter_int32(iterator)))
        case BSON_TYPE_INT64:
            return .number(String(bson_iter_int64(iterator)))
        case BSON_TYPE_DOUBLE:
            return self.double(bson_iter_double(iterator))
        case BSON_TYPE_DATE_TIME:
            return ["$date": .number(String(bson_iter_date_time(iterator)))]
        case BSON_TYPE_DECIMAL128:
            var decimal = bson_decimal128_t()
            guard bson_iter_decimal128(iterator, &decimal) else { throw .invalidDocument("corrupt Decimal128") }
            let text = withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(BSON_DECIMAL128_STRING)) { buffer in
                bson_decimal128_to_string(&decimal, buffer.baseAddress)
                return String(cString: buffer.baseAddress!)
            }
            return ["$numberDecimal": .string(text)]
        case BSON_TYPE_OID:
            guard let oid = bson_iter_oid(iterator) else { throw .invalidDocument("corrupt ObjectId") }
            let hex = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 25) { buffer in
                bson_oid_to_string(oid, buffer.baseAddress)
                return String(cString: buffer.baseAddress!)
            }
            return ["$oid": .string(hex)]
        case BSON_TYPE_DOCUMENT:
            return .object(
                try self.withIterator { child throws(MongoError) in
                    guard bson_iter_recurse(iterator, child) else { throw .invalidDocument("corrupt embedded document") }
                    return try self.readObject(child)
                }
            )
        case BSON_TYPE_ARRAY:
            return .array(
                try self.withIterator { child throws(MongoError) in
                    guard bson_iter_recurse(iterator, child) else { throw .invalidDocument("corrupt array") }
                    return try self.readArray(child)
                }
            )
        default:
            return try self.canonicalExtendedJSON(iterator)
        }
    }

    /// A double as a JSON literal; NaN and the infinities as `{"$numberDouble": …}`.
    static func double(_ value: Double) -> JSON {
        if value.isNaN { return ["$numberDouble": "NaN"] }
        if value.isInfinite { return ["$numberDouble": value < 0 ? "-Infinity" : "Infinity"] }
        return .number("\(value)")
    }

    /// The rare BSON types without a JSON form of their own (binary, regex, timestamp, …) as canonical extended JSON.
    private static func canonicalExtendedJSON(_ iterator: OpaquePointer) throws(MongoError) -> JSON {
        let wrapper = BSONDocument()
        guard bson_append_iter(wrapper.pointer, "v", 1, iterator) else { throw .invalidDocument("cannot copy a BSON value") }
        var length = 0
        guard let text = bson_as_canonical_extended_json(wrapper.pointer, &length) else { throw .invalidDocument("cannot convert a BSON value") }
        defer { bson_free(text) }
        let bytes = UnsafeRawBufferPointer(start: text, count: length)
        guard let parsed = try? JSON.parse(bytes), let value = parsed["v"] else { throw .invalidDocument("cannot convert a BSON value") }
        return value
    }
}
