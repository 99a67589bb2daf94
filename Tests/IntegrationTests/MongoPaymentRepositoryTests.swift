import BookstoreCore
import BookstoreMongo
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

    /// A millisecond timestamp, the precision the service writes.
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    func payment(
        id: String = UUID().uuidString.lowercased(),
        order: String = "order-1",
        user: String = "user-1",
        status: PaymentStatus = .pending,
        key: String? = nil,
        createdAt: Date = Self.date(1_700_000_000_123)
    ) -> Payment {
        Payment(
            paymentID: id,
            orderID: order,
            userID: user,
            amount: Money(cents: 1990),
            currency: .usd,
            method: .creditCard,
            status: status,
            transactionID: nil,
            message: "Payment is being processed",
            bookID: nil,
            createdAt: createdAt,
            updatedAt: createdAt,
            refundedAt: nil,
            idempotencyKey: key,
            fingerprint: "\(order)|\(user)"
        )
    }

    @Test func everyOperationRoundTripsExactly() async throws {
        try await self.withRepository { repository, store in
            var payment = self.payment(id: "6f1c2a52-8d4e-4a0b-9a57-0f8f5d2b8c11", key: "key-1")
            payment.amount = Money(cents: 100_000_000)
            payment.currency = .gbp
            payment.method = .bankTransfer
            payment.bookID = "book-42"
            try await repository.insert(payment)
            #expect(try await repository.find(paymentID: payment.paymentID) == payment)
            #expect(try await repository.find(userID: "user-1", idempotencyKey: "key-1") == payment)
            #expect(try await repository.find(paymentID: "missing") == nil)
            #expect(try await repository.find(userID: "user-2", idempotencyKey: "key-1") == nil)
            #expect(try await repository.findActive(fingerprint: payment.fingerprint) == nil, "a keyed payment has no active fingerprint")

            var completed = payment
            completed.status = .completed
            completed.transactionID = "TXN-0123456789AB"
            completed.message = "Payment processed successfully"
            completed.updatedAt = Self.date(1_700_000_001_999)
            try await repository.update(completed, expectedStatus: .pending)
            #expect(try await repository.find(paymentID: payment.paymentID) == completed)

            var refunded = completed
            refunded.status = .refunded
            refunded.refundedAt = Self.date(1_700_000_002_001)
            refunded.updatedAt = Self.date(1_700_000_002_001)
            refunded.message = "Payment refunded successfully"
            try await repository.update(refunded, expectedStatus: .completed)
            #expect(try await repository.find(paymentID: payment.paymentID) == refunded)
            #expect(try await repository.list(userID: "user-1", offset: 0, limit: 10) == PaymentPage(payments: [refunded], total: 1))

            let unkeyed = self.payment(id: "p-unkeyed", order: "order-2")
            try await repository.insert(unkeyed)
            #expect(try await repository.findActive(fingerprint: "order-2|user-1") == unkeyed)
            try await repository.delete(paymentID: "p-unkeyed", expectedStatus: .pending)
            #expect(try await repository.find(paymentID: "p-unkeyed") == nil)
            #expect(try await repository.findActive(fingerprint: "order-2|user-1") == nil)
            #expect(await repository.isHealthy())

            // The stored types: Decimal128 money, BSON dates, absent (not null) optional keys.
            let raw = try #require(try await store.collection("payments").findOne(["payment_id": .string(payment.paymentID)]))
            #expect(MongoValue.decimal(from: raw["amount"]) == "1000000.00")
            #expect(raw["created_at"] == ["$date": 1_700_000_000_123])
            #expect(raw["refunded_at"] == ["$date": 1_700_000_002_001])
            #expect(raw["active_fingerprint"] == nil)
        }
    }

    @Test func moneyIsStoredAsExactDecimals() async throws {
        try await self.withRepository { repository, store in
            let amounts: [Int64: String] = [
                1: "0.01", 10: "0.10", 1990: "19.90", 99_999_999: "999999.99", 100_000_000: "1000000.00", 12_345_678: "123456.78",
            ]
            for cents in amounts.keys {
                var payment = self.payment(id: "p\(cents)", order: "o\(cents)")
                payment.amount = Money(cents: cents)
                try await repository.insert(payment)
                #expect(try await repository.find(paymentID: "p\(cents)")?.amount == Money(cents: cents))
            }
            for document in try await store.collection("payments").find([:]) {
                let cents = try #require(document["payment_id"]?.stringValue.flatMap { Int64($0.dropFirst()) })
                #expect(MongoValue.decimal(from: document["amount"]) == amounts[cents])
            }
            // Sums stay exact on the server.
            let total = try await store.collection("payments").aggregate([["$group": ["_id": nil, "sum": ["$sum": "$amount"]]]])
            #expect(MongoValue.decimal(from: total.first?["sum"]) == "2123476.78")
        }
    }

    @Test func paymentIDIsUnique() async throws {
        try await self.withRepository { repository, _ in
            let first = self.payment(id: "p1")
            try await repository.insert(first)
            await #expect(throws: PaymentRepositoryError.duplicatePaymentID) { try await repository.insert(self.payment(id: "p1", order: "other")) }
            await #expect(throws: PaymentRepositoryError.duplicatePaymentID) {
                try await repository.insert(self.payment(id: "p1", order: "other", key: "k"))
            }
            #expect(try await repository.find(paymentID: "p1") == first)
        }
    }

    @Test func idempotencyKeysAreUniquePerUser() async throws {
        try await self.withRepository { repository, _ in
            try await repository.insert(self.payment(order: "a", key: "k1"))
            await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) { try await repository.insert(self.payment(order: "b", key: "k1")) }
            try await repository.insert(self.payment(order: "a", user: "user-2", key: "k1"))
            try await repository.insert(self.payment(order: "a", key: "k2"))
            #expect(try await repository.find(userID: "user-1", idempotencyKey: "k1")?.orderID == "a")
            #expect(try await repository.find(userID: "user-2", idempotencyKey: "k1")?.userID == "user-2")
            #expect(try await repository.find(userID: "user-3", idempotencyKey: "k1") == nil)
            var failed = try #require(try await repository.find(userID: "user-1", idempotencyKey: "k2"))
            failed.status = .failed
            try await repository.update(failed, expectedStatus: .pending)
            await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) { try await repository.insert(self.payment(order: "a", key: "k2")) }
        }
    }

    @Test func anUnkeyedFingerprintIsClaimedOnceUntilItFails() async throws {
        try await self.withRepository { repository, _ in
            var first = self.payment(id: "p1")
            try await repository.insert(first)
            await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
            try await repository.insert(self.payment(id: "p3", key: "k"))
            try await repository.insert(self.payment(id: "p3f", status: .failed))
            #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p1")

            first.status = .completed
            try await repository.update(first, expectedStatus: .pending)
            await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
            first.status = .failed
            try await repository.update(first, expectedStatus: .completed)
            #expect(try await repository.findActive(fingerprint: "order-1|user-1") == nil)
            try await repository.insert(self.payment(id: "p4"))
            #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p4")
            var revived = first
            revived.status = .completed
            await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.update(revived, expectedStatus: .failed) }
        }
    }

    @Test func updatesAreConditionalOnTheStatus() async throws {
        try await self.withRepository { repository, _ in
            var payment = self.payment(id: "p1")
            try await repository.insert(payment)
            payment.status = .completed
            try await repository.update(payment, expectedStatus: .pending)
            payment.status = .refunded
            await #expect(throws: PaymentRepositoryError.statusChanged(current: .completed)) {
                try await repository.update(payment, expectedStatus: .pending)
            }
            try await repository.update(payment, expectedStatus: .completed)
            #expect(try await repository.find(paymentID: "p1")?.status == .refunded)
            await #expect(throws: PaymentRepositoryError.notFound) { try await repository.update(self.payment(id: "nope"), expectedStatus: .pending) }
        }
    }

    @Test func concurrentRefundsHaveOneWinner() async throws {
        try await self.withRepository { repository, _ in
            var completed = self.payment(id: "p1", status: .completed)
            completed.transactionID = "TXN-0123456789AB"
            try await repository.insert(completed)
            let payment = completed
            let outcome = await PostgresPaymentRepositoryTests.race(20) { index async throws(PaymentRepositoryError) in
                var refunded = payment
                refunded.status = .refunded
                refunded.refundedAt = Self.date(1_700_000_100_000 + Int64(index))
                try await repository.update(refunded, expectedStatus: .completed)
            }
            #expect(outcome.wins == 1)
            #expect(outcome.errors == Array(repeating: .statusChanged(current: .refunded), count: 19))
            #expect(try await repository.find(paymentID: "p1")?.status == .refunded)
        }
    }

    @Test func deletingAPendingClaimReleasesItsKeys() async throws {
        try await self.withRepository { repository, _ in
            try await repository.insert(self.payment(id: "p1", key: "k"))
            try await repository.insert(self.payment(id: "p2"))
            try await repository.delete(paymentID: "p1", expectedStatus: .pending)
            try await repository.delete(paymentID: "p2", expectedStatus: .pending)
            try await repository.delete(paymentID: "p2", expectedStatus: .pending)
            #expect(try await repository.find(paymentID: "p1") == nil)
            try await repository.insert(self.payment(id: "p3", key: "k"))
            try await repository.insert(self.payment(id: "p4"))

            var completed = self.payment(id: "p5", order: "o5")
            try await repository.insert(completed)
            completed.status = .completed
            try await repository.update(completed, expectedStatus: .pending)
            await #expect(throws: PaymentRepositoryError.statusChanged(current: .completed)) {
                try await repository.delete(paymentID: "p5", expectedStatus: .pending)
            }
            #expect(try await repository.find(paymentID: "p5") == completed)
        }
    }

    @Test func listsNewestFirstWithTotals() async throws {
        try await self.withRepository { repository, _ in
            let start: Int64 = 1_700_000_000_000
            for index in 0..<5 {
                try await repository.insert(self.payment(id: "p\(index)", order: "o\(index)", createdAt: Self.date(start + Int64(index) * 1000)))
            }
            try await repository.insert(self.payment(id: "p5", order: "o5", createdAt: Self.date(start + 4000)))
            try await repository.insert(self.payment(id: "x", order: "o", user: "user-2"))
            let first = try await repository.list(userID: "user-1", offset: 0, limit: 2)
            #expect(first.total == 6)
            #expect(first.payments.map(\.paymentID) == ["p5", "p4"])
            let middle = try await repository.list(userID: "user-1", offset: 2, limit: 2)
            #expect(middle.payments.map(\.paymentID) == ["p3", "p2"])
            #expect(middle.total == 6)
            let last = try await repository.list(userID: "user-1", offset: 4, limit: 10)
            #expect(last.payments.map(\.paymentID) == ["p1", "p0"])
            #expect(try await repository.list(userID: "user-1", offset: 10, limit: 10) == PaymentPage(payments: [], total: 6))
            #expect(try await repository.list(userID: "user-1", offset: 0, limit: 0) == PaymentPage(payments: [], total: 6))
            #expect(try await repository.list(userID: "user-1", offset: -3, limit: 1).payments.map(\.paymentID) == ["p5"])
            #expect(try await repository.list(userID: "nobody", offset: 0, limit: 10) == PaymentPage(payments: [], total: 0))
            #expect(try await repository.list(userID: "user-2", offset: 0, limit: 10).payments.map(\.paymentID) == ["x"])
        }
    }

    @Test func twentyParallelIdenticalClaimsHaveOneWinner() async throws {
        try await self.withRepository { repository, _ in
            let unkeyed = await PostgresPaymentRepositoryTests.race(20) { _ async throws(PaymentRepositoryError) in
                try await repository.insert(self.payment())
            }
            #expect(unkeyed.wins == 1)
            #expect(unkeyed.errors == Array(repeating: .duplicateFingerprint, count: 19))
            let keyed = await PostgresPaymentRepositoryTests.race(20) { index async throws(PaymentRepositoryError) in
                try await repository.insert(self.payment(order: "keyed-\(index)", key: "same-key"))
            }
            #expect(keyed.wins == 1)
            #expect(keyed.errors == Array(repeating: .duplicateIdempotencyKey, count: 19))
            let sameID = await PostgresPaymentRepositoryTests.race(20) { index async throws(PaymentRepositoryError) in
                try await repository.insert(self.payment(id: "one-id", order: "id-\(index)"))
            }
            #expect(sameID.wins == 1)
            #expect(sameID.errors == Array(repeating: .duplicatePaymentID, count: 19))
            let stored = try await repository.list(userID: "user-1", offset: 0, limit: 100)
            #expect(stored.total == 3)
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
            #expect(await repository.isHealthy() == false)
            let clock = ContinuousClock()
            let operations: [(String, @Sendable () async throws -> Void)] = [
                ("insert", { try await repository.insert(self.payment()) }),
                ("find", { _ = try await repository.find(paymentID: "p1") }),
                ("find key", { _ = try await repository.find(userID: "u", idempotencyKey: "k") }),
                ("find active", { _ = try await repository.findActive(fingerprint: "f") }),
                ("list", { _ = try await repository.list(userID: "u", offset: 0, limit: 10) }),
                ("update", { try await repository.update(self.payment(), expectedStatus: .pending) }),
                ("delete", { try await repository.delete(paymentID: "p1", expectedStatus: .pending) }),
            ]
            for (name, operation) in operations {
                let start = clock.now
                do {
                    try await operation()
                    Issue.record("\(name) succeeded without a database")
                } catch let error as PaymentRepositoryError {
                    guard case .unavailable(let detail) = error else {
                        Issue.record("\(name): expected unavailable, got \(error)")
                        continue
                    }
                    #expect(detail.hasPrefix("database unavailable"), "\(name): \(detail)")
                }
                #expect(clock.now - start < .seconds(2), "bounded by MONGO_TIMEOUT_MS")
            }
        }
    }
}
