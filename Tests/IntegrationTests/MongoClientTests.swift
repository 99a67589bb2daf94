import BookstoreCore
import BookstoreMongo
import Foundation
import JSONKit
import Testing

/// A client on a fresh database of the `ci/infra` MongoDB-wire server, dropped afterwards.
func withMongoDatabase<T: Sendable>(
    _ prefix: String,
    indexes: [MongoIndex] = [],
    _ body: (MongoStore) async throws -> T
) async throws -> T {
    let database = IntegrationEnvironment.uniqueName(prefix)
    let settings = try MongoSettings(settings: IntegrationEnvironment.settings.with(["MONGO_DB": database]), defaultDatabase: database)
    let store = try MongoStore(settings: settings, indexes: indexes, logger: IntegrationEnvironment.logger)
    return try await withRunningServices([store]) {
        let deadline = ContinuousClock.now + .seconds(20)
        while !(await store.isHealthy()), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await store.isHealthy(), "indexes created and the server answers")
        do {
            let result = try await body(store)
            try? await store.client.dropDatabase(database)
            return result
        } catch {
            try? await store.client.dropDatabase(database)
            throw error
        }
    }
}

@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's MongoDB-wire server"))
struct MongoClientTests {
    static let indexes = [
        MongoIndex(collection: "things", name: "key_unique", keys: ["key": 1], unique: true),
        MongoIndex(
            collection: "things",
            name: "owner_active_unique",
            keys: ["owner": 1, "slot": 1],
            unique: true,
            partialFilterExpression: ["state": "active"]
        ),
        MongoIndex(collection: "things", name: "group", keys: ["group": 1]),
    ]

    @Test func documentsRoundTripThroughTheServer() async throws {
        try await withMongoDatabase("mongo_client_test") { store in
            let things = store.collection("things")
            let document: JSONObject = [
                "key": "k1",
                "text": "📚 ñandú \u{0} end",
                "int": 2_147_483_647,
                "long": .number("9223372036854775807"),
                "double": .number("0.1"),
                "whole": .number("5.0"),
                "flag": true,
                "nothing": nil,
                "list": [1, "two", ["three": 3]],
                "nested": ["a": ["b": ["c": "deep"]]],
                "price": MongoValue.decimal("19.90"),
                "at": MongoValue.date(Date(timeIntervalSince1970: 1_700_000_000.123_5)),
                "big": .string(String(repeating: "x", count: 1_000_000)),
            ]
            try await things.insertOne(document)
            var found = try #require(try await things.findOne(["key": "k1"]))
            #expect(MongoValue.objectID(from: found["_id"]) != nil, "the driver added an ObjectId")
            found["_id"] = nil
            #expect(found == document)
            #expect(MongoValue.decimal(from: found["price"]) == "19.90")
            #expect(found["whole"] == .number("5.0"))
            #expect(found["at"] == ["$date": .number("1700000000123")])
            // Exact types are queryable: the decimal compares as a number, the date as a date.
            #expect(try await things.count(["price": ["$gt": MongoValue.decimal("19.89")]]) == 1)
            #expect(try await things.count(["at": ["$lt": MongoValue.date(Date(timeIntervalSince1970: 1_800_000_000))]]) == 1)
        }
    }

    @Test func findSortSkipLimitAndCount() async throws {
        try await withMongoDatabase("mongo_client_test") { store in
            let things = store.collection("things")
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            // Dates out of insertion order, one of them before 1970 and one far later: they sort as dates.
            let offsets: [Double] = [5, -1_800_000_000, 1, 400_000_000, 3]
            for (index, offset) in offsets.enumerated() {
                try await things.insertOne(["key": .string("k\(index)"), "group": "g", "at": MongoValue.date(base.addingTimeInterval(offset))])
            }
            try await things.insertOne(["key": "other", "group": "h", "at": MongoValue.date(base)])
            let newest = try await things.find(["group": "g"], sort: ["at": -1])
            #expect(newest.map { $0["key"]?.stringValue } == ["k3", "k0", "k4", "k2", "k1"])
            let page = try await things.find(["group": "g"], sort: ["at": -1], skip: 1, limit: 2)
            #expect(page.map { $0["key"]?.stringValue } == ["k0", "k4"])
            #expect(try await things.count(["group": "g"]) == 5)
            #expect(try await things.count() == 6)
            #expect(try await things.find(["group": "none"]).isEmpty)
            let projected = try #require(try await things.findOne(["key": "k1"], projection: ["key": 1, "_id": 0]))
            #expect(projected == ["key": "k1"])
        }
    }

    @Test func updatesAndAtomicIncrements() async throws {
        try await withMongoDatabase("mongo_client_test", indexes: Self.indexes) { store in
            let things = store.collection("things")
            try await things.insertOne(["key": "a", "count": 0, "group": "g"])
            let result = try await things.updateOne(["key": "a"], ["$set": ["name": "first"]])
            #expect(result.matched == 1 && result.modified == 1)
            #expect(try await things.updateOne(["key": "missing"], ["$set": ["name": "x"]]) == MongoUpdateResult(matched: 0, modified: 0))
            let upserted = try await things.updateOne(["key": "b"], ["$setOnInsert": ["count": 7]], upsert: true)
            #expect(upserted.matched == 0)
            #expect(upserted.upsertedID != nil)
            #expect(try await things.findOne(["key": "b"])?["count"] == 7)
            #expect(try await things.updateMany(["count": ["$gte": 0]], ["$set": ["seen": true]]).matched == 2)

            // 20 concurrent increments: none lost.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask { _ = try await things.findOneAndUpdate(["key": "a"], ["$inc": ["count": 1]]) }
                }
                try await group.waitForAll()
            }
            #expect(try await things.findOne(["key": "a"])?["count"] == 20)
            let after = try #require(try await things.findOneAndUpdate(["key": "a"], ["$inc": ["count": 1]]))
            #expect(after["count"] == 21)
            let before = try #require(try await things.findOneAndUpdate(["key": "a"], ["$inc": ["count": 1]], returnNew: false))
            #expect(before["count"] == 21)
            #expect(try await things.findOneAndUpdate(["key": "none"], ["$inc": ["count": 1]]) == nil)
            let created = try #require(try await things.findOneAndUpdate(["key": "c"], ["$set": ["count": 1]], upsert: true))
            #expect(created["key"] == "c")
        }
    }

    @Test func deletesAndAggregation() async throws {
        try await withMongoDatabase("mongo_client_test", indexes: Self.indexes) { store in
            let things = store.collection("things")
            for (index, rating) in [5, 4, 5, 1, 5].enumerated() {
                try await things.insertOne(["key": .string("k\(index)"), "group": "g", "rating": .int(rating)])
            }
            let groups = try await things.aggregate([
                ["$match": ["group": "g"]],
                ["$group": ["_id": "$rating", "count": ["$sum": 1]]],
                ["$sort": ["_id": 1]],
            ])
            #expect(groups.map { [$0["_id"]?.intValue, $0["count"]?.intValue] } == [[1, 1], [4, 1], [5, 3]])
            #expect(try await things.deleteOne(["rating": 5]) == 1)
            #expect(try await things.deleteMany(["rating": 5]) == 2)
            #expect(try await things.deleteMany(["rating": 5]) == 0)
            #expect(try await things.count() == 2)
        }
    }

    @Test func uniqueAndPartialIndexes() async throws {
        try await withMongoDatabase("mongo_client_test", indexes: Self.indexes) { store in
            let things = store.collection("things")
            let names = try await things.indexes().compactMap { $0["name"]?.stringValue }
            #expect(Set(names).isSuperset(of: ["key_unique", "owner_active_unique", "group"]))

            try await things.insertOne(["key": "k", "owner": "o", "slot": 1, "state": "active"])
            do {
                try await things.insertOne(["key": "k"])
                Issue.record("a duplicate key was accepted")
            } catch let error as MongoError {
                #expect(error == .duplicateKey)
                #expect(error.serverCode == 11000)
                #expect(error.indexName == "key_unique", "\(String(reflecting: error))")
                #expect(!error.description.contains("\"k\""), "no stored value in the description")
            }
            // The partial index: one active per (owner, slot); inactive ones are not constrained.
            await #expect(throws: MongoError.duplicateKey) {
                try await things.insertOne(["key": "k2", "owner": "o", "slot": 1, "state": "active"])
            }
            try await things.insertOne(["key": "k3", "owner": "o", "slot": 1, "state": "deleted"])
            try await things.insertOne(["key": "k4", "owner": "o", "slot": 1, "state": "deleted"])
            _ = try await things.updateOne(["key": "k"], ["$set": ["state": "deleted"]])
            try await things.insertOne(["key": "k5", "owner": "o", "slot": 1, "state": "active"])
            // An update that would make a second active one is refused too.
            await #expect(throws: MongoError.duplicateKey) { try await things.updateOne(["key": "k3"], ["$set": ["state": "active"]]) }

            // Creating the same indexes again is harmless (a restart, another replica).
            try await things.createIndexes(Self.indexes)

            // 20 parallel inserts of one key: exactly one wins.
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        do {
                            try await things.insertOne(["key": "race", "n": .int(index)])
                            return true
                        } catch MongoError.duplicateKey {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }

    @Test func anUnreachableServerIsADependencyErrorWithinTheTimeout() async throws {
        let settings = try MongoSettings(
            settings: IntegrationEnvironment.settings.with(["MONGO_URI": "mongodb://127.0.0.1:9/?directConnection=true", "MONGO_TIMEOUT_MS": "1000"]),
            defaultDatabase: "nowhere"
        )
        let store = try MongoStore(settings: settings, indexes: Self.indexes, logger: IntegrationEnvironment.logger)
        try await withRunningServices([store]) {
            let started = ContinuousClock.now
            await #expect(throws: DependencyError.self) { _ = try await store.collection("things").findOne(["key": "x"]) }
            await #expect(throws: DependencyError.self) { try await store.collection("things").insertOne(["key": "x"]) }
            await #expect(throws: DependencyError.self) { try await store.client.ping() }
            #expect(started.duration(to: .now) < .seconds(5), "each failure within about the 1 s timeout")
            let probe = ContinuousClock.now
            #expect(await store.isHealthy() == false)
            #expect(await store.client.isReachable() == false)
            #expect(probe.duration(to: .now) < .seconds(3), "readiness answers within its 2 s budget")
            #expect(!store.isPrepared)
            // A burst of concurrent operations all fail, none hangs.
            let burstStart = ContinuousClock.now
            let failures = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do {
                            _ = try await store.collection("things").count()
                            return false
                        } catch {
                            return error is DependencyError
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 10)
            #expect(burstStart.duration(to: .now) < .seconds(5))
        }
    }

    @Test func readinessIsQuickAndSharedWhenHealthy() async throws {
        try await withMongoDatabase("mongo_client_test", indexes: Self.indexes) { store in
            let started = ContinuousClock.now
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 { group.addTask { await store.isHealthy() } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results == Array(repeating: true, count: 10))
            #expect(started.duration(to: .now) < .seconds(2))
        }
    }
}
