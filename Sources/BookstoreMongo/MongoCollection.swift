import CMongoC
import JSONKit

/// What an update did.
public struct MongoUpdateResult: Sendable, Equatable {
    /// Documents the filter matched.
    public var matched: Int
    /// Documents actually changed.
    public var modified: Int
    /// The `_id` of the inserted document when an upsert inserted one.
    public var upsertedID: JSON?

    public init(matched: Int, modified: Int, upsertedID: JSON? = nil) {
        self.matched = matched
        self.modified = modified
        self.upsertedID = upsertedID
    }
}

/// A collection of a database. Documents, filters, updates and pipelines are JSON objects (see ``MongoValue`` for
/// dates, Decimal128 and ObjectIds).
///
/// Every method throws ``MongoError`` (for example ``MongoError/duplicateKey``) or, when the server cannot be
/// reached in time, ``BookstoreCore/DependencyError``.
public struct MongoCollection: Sendable {
    public let client: MongoClient
    public let database: String
    public let name: String

    /// Inserts a document (libmongoc adds an ObjectId `_id` when it has none).
    public func insertOne(_ document: JSONObject) async throws {
        try await self.run("insert") { collection in
            let bson = try BSONDocument(document)
            var error = bson_error_t()
            guard mongoc_collection_insert_one(collection, bson.pointer, nil, nil, &error) else { throw MongoError(error) }
        }
    }

    /// The first document matching `filter` (in `sort` order when given), or nil.
    public func findOne(_ filter: JSONObject, sort: JSONObject? = nil, projection: JSONObject? = nil) async throws -> JSONObject? {
        try await self.find(filter, sort: sort, limit: 1, projection: projection).first
    }

    /// The documents matching `filter`.
    /// - Parameters:
    ///   - sort: e.g. `["created_at": -1, "_id": -1]`.
    ///   - skip: documents to skip.
    ///   - limit: at most this many documents; 0 for no limit.
    ///   - projection: the fields to return.
    public func find(
        _ filter: JSONObject,
        sort: JSONObject? = nil,
        skip: Int = 0,
        limit: Int = 0,
        projection: JSONObject? = nil
    ) async throws -> [JSONObject] {
        var options = JSONObject()
        if let sort { options["sort"] = .object(sort) }
        if skip > 0 { options["skip"] = .int(skip) }
        if limit > 0 { options["limit"] = .int(limit) }
        if let projection { options["projection"] = .object(projection) }
        return try await self.run("find") { [options] collection in
            let query = try BSONDocument(filter)
            let opts = try BSONDocument(options)
            let cursor = mongoc_collection_find_with_opts(collection, query.pointer, opts.pointer, nil)
            return try Self.drain(cursor)
        }
    }

    /// How many documents match `filter`.
    public func count(_ filter: JSONObject = [:]) async throws -> Int {
        try await self.run("count") { collection in
            let query = try BSONDocument(filter)
            var error = bson_error_t()
            let count = mongoc_collection_count_documents(collection, query.pointer, nil, nil, nil, &error)
            guard count >= 0 else { throw MongoError(error) }
            return Int(count)
        }
    }

    /// Updates the first document matching `filter` with `update` (operators such as `$set`, `$inc`, `$setOnInsert`).
    /// - Parameter upsert: insert a document built from the filter and the update when none matches.
    @discardableResult
    public func updateOne(_ filter: JSONObject, _ update: JSONObject, upsert: Bool = false) async throws -> MongoUpdateResult {
        try await self.update("updateOne", filter, update, upsert: upsert, many: false)
    }

    /// Updates every document matching `filter`.
    @discardableResult
    public func updateMany(_ filter: JSONObject, _ update: JSONObject, upsert: Bool = false) async throws -> MongoUpdateResult {
        try await self.update("updateMany", filter, update, upsert: upsert, many: true)
    }

    private func update(_ operation: String, _ filter: JSONObject, _ update: JSONObject, upsert: Bool, many: Bool) async throws -> MongoUpdateResult {
        try await self.run(operation) { collection in
            let selector = try BSONDocument(filter)
            let changes = try BSONDocument(update)
            let opts = try BSONDocument(upsert ? ["upsert": true] : [:])
            var error = bson_error_t()
            let reply = try withReplyDocument { reply -> JSONObject in
                let ok =
                    many
                    ? mongoc_collection_update_many(collection, selector.pointer, changes.pointer, opts.pointer, reply, &error)
                    : mongoc_collection_update_one(collection, selector.pointer, changes.pointer, opts.pointer, reply, &error)
                guard ok else { throw MongoError(error) }
                return try BSONReader.object(of: reply)
            }
            return MongoUpdateResult(
                matched: reply["matchedCount"]?.intValue ?? 0,
                modified: reply["modifiedCount"]?.intValue ?? 0,
                upsertedID: reply["upsertedId"]
            )
        }
    }

    /// Atomically updates the first document matching `filter` (in `sort` order) and returns it.
    /// - Parameters:
    ///   - upsert: insert a document when none matches.
    ///   - returnNew: return the document after the update (default) or before it.
    /// - Returns: the document, or nil when none matched (and, with `returnNew: false`, when an upsert inserted one).
    public func findOneAndUpdate(
        _ filter: JSONObject,
        _ update: JSONObject,
        sort: JSONObject? = nil,
        upsert: Bool = false,
        returnNew: Bool = true
    ) async throws -> JSONObject? {
        try await self.run("findOneAndUpdate") { collection in
            let query = try BSONDocument(filter)
            let changes = try BSONDocument(update)
            let order = try sort.map { try BSONDocument($0) }
            guard let options = mongoc_find_and_modify_opts_new() else { throw MongoError.invalidDocument("out of memory") }
            defer { mongoc_find_and_modify_opts_destroy(options) }
            var flags = MONGOC_FIND_AND_MODIFY_NONE.rawValue
            if upsert { flags |= MONGOC_FIND_AND_MODIFY_UPSERT.rawValue }
            if returnNew { flags |= MONGOC_FIND_AND_MODIFY_RETURN_NEW.rawValue }
            guard mongoc_find_and_modify_opts_set_update(options, changes.pointer),
                mongoc_find_and_modify_opts_set_flags(options, mongoc_find_and_modify_flags_t(rawValue: flags)),
                order.map({ mongoc_find_and_modify_opts_set_sort(options, $0.pointer) }) ?? true
            else { throw MongoError(code: .invalidRequest, detail: "invalid findAndModify options") }
            var error = bson_error_t()
            let reply = try withReplyDocument { reply -> JSONObject in
                guard mongoc_collection_find_and_modify_with_opts(collection, query.pointer, options, reply, &error) else { throw MongoError(error) }
                return try BSONReader.object(of: reply)
            }
            return reply["value"]?.objectValue
        }
    }

    /// Deletes the first document matching `filter`; returns how many were deleted (0 or 1).
    @discardableResult
    public func deleteOne(_ filter: JSONObject) async throws -> Int {
        try await self.delete("deleteOne", filter, many: false)
    }

    /// Deletes every document matching `filter`; returns how many were deleted.
    @discardableResult
    public func deleteMany(_ filter: JSONObject) async throws -> Int {
        try await self.delete("deleteMany", filter, many: true)
    }

    private func delete(_ operation: String, _ filter: JSONObject, many: Bool) async throws -> Int {
        try await self.run(operation) { collection in
            let selector = try BSONDocument(filter)
            var error = bson_error_t()
            let reply = try withReplyDocument { reply -> JSONObject in
                let ok =
                    many
                    ? mongoc_collection_delete_many(collection, selector.pointer, nil, reply, &error)
                    : mongoc_collection_delete_one(collection, selector.pointer, nil, reply, &error)
                guard ok else { throw MongoError(error) }
                return try BSONReader.object(of: reply)
            }
            return reply["deletedCount"]?.intValue ?? 0
        }
    }

    /// Runs an aggregation pipeline (e.g. `[["$match": …], ["$group": …]]`) and returns its documents.
    public func aggregate(_ pipeline: [JSONObject]) async throws -> [JSONObject] {
        try await self.run("aggregate") { collection in
            let stages = try BSONDocument(["pipeline": .array(pipeline.map(JSON.object))])
            let cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, stages.pointer, nil, nil)
            return try Self.drain(cursor)
        }
    }

    /// Creates indexes (idempotent: an existing index with the same name and options is left as it is).
    public func createIndexes(_ indexes: [MongoIndex]) async throws {
        guard !indexes.isEmpty else { return }
        let command: JSONObject = ["createIndexes": .string(self.name), "indexes": .array(indexes.map { .object($0.specification) })]
        try await self.run("createIndexes") { collection in
            let bson = try BSONDocument(command)
            var error = bson_error_t()
            let ok = try withReplyDocument { reply in
                mongoc_collection_write_command_with_opts(collection, bson.pointer, nil, reply, &error)
            }
            guard ok else { throw MongoError(error) }
        }
    }

    /// The collection's index specifications (`name`, `key`, `unique`, `partialFilterExpression`, …).
    public func indexes() async throws -> [JSONObject] {
        try await self.run("listIndexes") { collection in
            let cursor = mongoc_collection_find_indexes_with_opts(collection, nil)
            return try Self.drain(cursor)
        }
    }

    /// Runs `body` with this collection's `mongoc_collection_t *` on the client's thread pool.
    private func run<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let database = self.database
        let name = self.name
        return try await self.client.withClient(operation) { client in
            let collection = mongoc_client_get_collection(client, database, name)!
            defer { mongoc_collection_destroy(collection) }
            return try body(collection)
        }
    }

    /// Reads every document of a cursor, then destroys it.
    private static func drain(_ cursor: OpaquePointer?) throws -> [JSONObject] {
        guard let cursor else { throw MongoError.invalidDocument("no cursor") }
        defer { mongoc_cursor_destroy(cursor) }
        var documents: [JSONObject] = []
        var current: OpaquePointer?
        while mongoc_cursor_next(cursor, &current) {
            guard let current else { continue }
            documents.append(try BSONReader.object(of: current))
        }
        var error = bson_error_t()
        if mongoc_cursor_error(cursor, &error) { throw MongoError(error) }
        return documents
    }
}

/// An index of a collection.
public struct MongoIndex: Sendable, Equatable {
    /// The collection it belongs to.
    public var collection: String
    public var name: String
    /// The indexed fields in order, `1` ascending or `-1` descending: `["book_id": 1, "user_id": 1]`.
    public var keys: JSONObject
    public var unique: Bool
    /// Only documents matching this filter are indexed (with `unique`, uniqueness holds among them only).
    public var partialFilterExpression: JSONObject?

    public init(collection: String, name: String, keys: JSONObject, unique: Bool = false, partialFilterExpression: JSONObject? = nil) {
        self.collection = collection
        self.name = name
        self.keys = keys
        self.unique = unique
        self.partialFilterExpression = partialFilterExpression
    }

    /// The index as `createIndexes` takes it.
    var specification: JSONObject {
        var specification: JSONObject = ["key": .object(self.keys), "name": .string(self.name)]
        if self.unique { specification["unique"] = true }
        if let partialFilterExpression { specification["partialFilterExpression"] = .object(partialFilterExpression) }
        return specification
    }
}
