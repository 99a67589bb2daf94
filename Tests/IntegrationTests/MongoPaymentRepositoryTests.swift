import BookstoreCore
import BookstoreMongo
import BookstoreTesting
import Foundation
import JSONKit
import PaymentsService
import Testing

/// The Python flavour's payment repository on the MongoDB-wire server, each test on a database of its own.
@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's MongoDB-wire server"))
struct MongoPaymentRepositoryTests {
    func withRepository(_ body: (MongoPaymentRepository, MongoStore) async throws -> Void) async throws {
        try await withMongoDatabase("payment_db_test", indexes: MongoPaymentRepository.indexes) { store in
            try await body(MongoPaymentRepository(store: store), store)
        }
    }

    /// The shared contract (``PaymentRepositoryContract``); the round trip and money are checked below with their stored
    /// form.
    @Test(arguments: PaymentRepositoryContract.checks.excluding("everyOperationRoundTripsExactly", "moneyIsStoredAsExactDecimals"))
    func contract(_ check: ContractCheck<any PaymentRepository>) async throws {
        try await self.withRepository { repository, _ in try await check.run(repository) }
    }

    @Test func everyOperationRoundTripsExactly() async throws {
        try await self.withRepository { repository, store in
            let refunded = try await PaymentRepositoryContract.everyOperationRoundTripsExactly(repository)

            // The stored types: Decimal128 money, BSON dates, absent (not null) optional keys.
            let raw = try #require(try await store.collection("payments").findOne(["payment_id": .string(refunded.paymentID)]))
            #expect(MongoValue.decimal(from: raw["amount"]) == "1000000.00")
            #expect(raw["created_at"] == ["$date": 1_700_000_000_123])
            #expect(raw["refunded_at"] == ["$date": 1_700_000_002_001])
            #expect(raw["active_fingerprint"] == nil)
        }
    }

    @Test func moneyIsStoredAsExactDecimals() async throws {
        try await self.withRepository { repository, store in
            try await PaymentRepositoryContract.moneyIsStoredAsExactDecimals(repository)
            let amounts = PaymentRepositoryContract.exactAmounts
            for document in try await store.collection("payments").find([:]) {
                let cents = try #require(document["payment_id"]?.stringValue.flatMap { Int64($0.dropFirst()) })
                #expect(MongoValue.decimal(from: document["amount"]) == amounts[cents])
            }
            // Sums stay exact on the server.
            let total = try await store.collection("payments").aggregate([["$group": ["_id": nil, "sum": ["$sum": "$amount"]]]])
            #expect(MongoValue.decimal(from: total.first?["sum"]) == "2123476.78")
        }
    }

    @Test func theDocumentedIndexesExist() async throws {
        try await self.withRepository { _, store in
            var indexes: [String: JSONObject] = [:]
            for index in try await store.collection("payments").indexes() {
                if let name = index["name"]?.stringValue { indexes[name] = index }
            }
            #expect(indexes["payment_id_unique"]?["unique"] == true)
            #expect(indexes["user_id_idempotency_key_unique"]?["unique"] == true)
            #expect(indexes["user_id_idempotency_key_unique"]?["partialFilterExpression"] == ["idempotency_key": ["$exists": true]])
            #expect(indexes["active_fingerprint_unique"]?["unique"] == true)
            #expect(indexes["order_id"]?["key"] == ["order_id": 1])
            #expect(indexes["user_id_created_at"]?["key"] == ["user_id": 1, "created_at": -1])
            #expect(indexes["status"]?["key"] == ["status": 1])
        }
    }

    @Test func anUnreachableServerIsUnavailableWithinTheTimeout() async throws {
        let settings = try MongoSettings(
            settings: IntegrationEnvironment.settings.with(["MONGO_URI": "mongodb://127.0.0.1:9/?directConnection=true", "MONGO_TIMEOUT_MS": "500"]),
            defaultDatabase: "payment_db"
        )
        let store = try MongoStore(settings: settings, indexes: MongoPaymentRepository.indexes, logger: IntegrationEnvironment.logger)
        let repository = MongoPaymentRepository(store: store)
        try await withRunningServices([store]) {
            try await PaymentRepositoryContract.everyOperationIsUnavailableWithinTheTimeout(repository, timeoutSetting: "MONGO_TIMEOUT_MS")
        }
    }
}
