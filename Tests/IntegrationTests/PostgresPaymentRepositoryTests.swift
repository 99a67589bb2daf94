import BookstoreCore
import BookstorePostgres
import Foundation
import PaymentsService
import PostgresNIO
import Testing

@Suite(.enabled(if: IntegrationEnvironment.isEnabled, "needs BOOKSTORE_INTEGRATION=1 and ci/infra's PostgreSQL"))
struct PostgresPaymentRepositoryTests {
    /// A repository on a fresh database (created by the store itself, as on a new cluster), dropped afterwards.
    func withRepository(_ body: (PostgresPaymentRepository, PostgresStore) async throws -> Void) async throws {
        let store = try PostgresPaymentTestDatabase.makeStore()
        let repository = PostgresPaymentRepository(store: store, logger: IntegrationEnvironment.logger)
        try await PostgresPaymentTestDatabase.dropAfterwards(store.settings.database) {
            try await withRunningServices([store]) {
                try await PostgresPaymentTestDatabase.waitUntilReady(store)
                try await body(repository, store)
            }
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
        try await self.withRepository { repository, _ in
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
        }
    }

    @Test func moneyIsStoredAsExactDecimals() async throws {
        try await self.withRepository { repository, store in
            let amounts: [Int64] = [1, 10, 1990, 99_999_999, 100_000_000, 12_345_678]
            for cents in amounts {
                var payment = self.payment(id: "p\(cents)", order: "o\(cents)")
                payment.amount = Money(cents: cents)
                try await repository.insert(payment)
                #expect(try await repository.find(paymentID: "p\(cents)")?.amount == Money(cents: cents))
            }
            let stored = try await store.withClient { client in
                var texts: [String: String] = [:]
                let rows = try await client.query("SELECT payment_id, amount::TEXT FROM payments", logger: IntegrationEnvironment.logger)
                for try await (id, amount) in rows.decode((String, String).self) { texts[id] = amount }
                return texts
            }
            #expect(stored["p1"] == "0.01")
            #expect(stored["p1990"] == "19.90")
            #expect(stored["p100000000"] == "1000000.00")
            #expect(stored["p12345678"] == "123456.78")
        }
    }

    @Test func timestampsAreStoredToTheMillisecond() async throws {
        try await self.withRepository { repository, store in
            var payment = self.payment(id: "p1", createdAt: Self.date(1_700_000_000_123))
            payment.refundedAt = Self.date(1_700_000_000_999)
            try await repository.insert(payment)
            let text = try await store.withClient { client in
                let rows = try await client.query(
                    "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(refunded_at AT TIME ZONE 'UTC', 'SS.US') FROM payments",
                    logger: IntegrationEnvironment.logger
                )
                var result: [String] = []
                for try await (created, refunded) in rows.decode((String, String).self) { result = [created, refunded] }
                return result
            }
            #expect(text == ["2023-11-14 22:13:20.123000", "20.999000"])
            let found = try #require(try await repository.find(paymentID: "p1"))
            #expect(found.createdAt == payment.createdAt)
            #expect(found.refundedAt == payment.refundedAt)
        }
    }

    @Test func paymentIDIsThePrimaryKey() async throws {
        try await self.withRepository { repository, _ in
            let first = self.payment(id: "p1")
            try await repository.insert(first)
            await #expect(throws: PaymentRepositoryError.duplicatePaymentID) {
                try await repository.insert(self.payment(id: "p1", order: "other"))
            }
            await #expect(throws: PaymentRepositoryError.duplicatePaymentID) {
                try await repository.insert(self.payment(id: "p1", order: "other", key: "k"))
            }
            #expect(try await repository.find(paymentID: "p1") == first)
        }
    }

    @Test func idempotencyKeysAreUniquePerUser() async throws {
        try await self.withRepository { repository, _ in
            try await repository.insert(self.payment(order: "a", key: "k1"))
            await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) {
                try await repository.insert(self.payment(order: "b", key: "k1"))
            }
            // The same key for another user, and another key for the same user, are fine.
            try await repository.insert(self.payment(order: "a", user: "user-2", key: "k1"))
            try await repository.insert(self.payment(order: "a", key: "k2"))
            #expect(try await repository.find(userID: "user-1", idempotencyKey: "k1")?.orderID == "a")
            #expect(try await repository.find(userID: "user-2", idempotencyKey: "k1")?.userID == "user-2")
            #expect(try await repository.find(userID: "user-3", idempotencyKey: "k1") == nil)
            // A failed keyed payment keeps its key.
            var failed = try #require(try await repository.find(userID: "user-1", idempotencyKey: "k2"))
            failed.status = .failed
            try await repository.update(failed, expectedStatus: .pending)
            await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) {
                try await repository.insert(self.payment(order: "a", key: "k2"))
            }
        }
    }

    @Test func anUnkeyedFingerprintIsClaimedOnceUntilItFails() async throws {
        try await self.withRepository { repository, _ in
            var first = self.payment(id: "p1")
            try await repository.insert(first)
            await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
            // A keyed request with the same body does not take part, nor does an already failed one.
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
            // Reviving the failed one would make two active payments: the index refuses.
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
            await #expect(throws: PaymentRepositoryError.notFound) {
                try await repository.update(self.payment(id: "nope"), expectedStatus: .pending)
            }
        }
    }

    @Test func concurrentRefundsHaveOneWinner() async throws {
        try await self.withRepository { repository, _ in
            var completed = self.payment(id: "p1", status: .completed)
            completed.transactionID = "TXN-0123456789AB"
            try await repository.insert(completed)
            let payment = completed
            let outcome = await Self.race(20) { index async throws(PaymentRepositoryError) in
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
            // Same timestamp as p4: insertion order breaks the tie.
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
            #expect(last.total == 6)
            #expect(try await repository.list(userID: "user-1", offset: 10, limit: 10) == PaymentPage(payments: [], total: 6))
            #expect(try await repository.list(userID: "user-1", offset: 0, limit: 0) == PaymentPage(payments: [], total: 6))
            #expect(try await repository.list(userID: "user-1", offset: -3, limit: 1).payments.map(\.paymentID) == ["p5"])
            #expect(try await repository.list(userID: "nobody", offset: 0, limit: 10) == PaymentPage(payments: [], total: 0))
            #expect(try await repository.list(userID: "user-2", offset: 0, limit: 10).payments.map(\.paymentID) == ["x"])
        }
    }

    @Test func twentyParallelIdenticalClaimsHaveOneWinner() async throws {
        try await self.withRepository { repository, _ in
            // Unkeyed: the partial unique index on the fingerprint decides.
            let unkeyed = await Self.race(20) { _ async throws(PaymentRepositoryError) in try await repository.insert(self.payment()) }
            #expect(unkeyed.wins == 1)
            #expect(unkeyed.errors == Array(repeating: .duplicateFingerprint, count: 19))
            // Keyed: the unique index on (user_id, idempotency_key) decides.
            let keyed = await Self.race(20) { index async throws(PaymentRepositoryError) in
                try await repository.insert(self.payment(order: "keyed-\(index)", key: "same-key"))
            }
            #expect(keyed.wins == 1)
            #expect(keyed.errors == Array(repeating: .duplicateIdempotencyKey, count: 19))
            // The same payment id: the primary key decides.
            let sameID = await Self.race(20) { index async throws(PaymentRepositoryError) in
                try await repository.insert(self.payment(id: "one-id", order: "id-\(index)"))
            }
            #expect(sameID.wins == 1)
            #expect(sameID.errors == Array(repeating: .duplicatePaymentID, count: 19))
            let stored = try await repository.list(userID: "user-1", offset: 0, limit: 100)
            #expect(stored.total == 3)
        }
    }

    /// Runs `count` copies of `operation` in parallel: how many succeeded, and the errors of the others.
    static func race(
        _ count: Int,
        _ operation: @escaping @Sendable (Int) async throws(PaymentRepositoryError) -> Void
    ) async -> (wins: Int, errors: [PaymentRepositoryError]) {
        await withTaskGroup(of: PaymentRepositoryError?.self) { group in
            for index in 0..<count {
                group.addTask {
                    do throws(PaymentRepositoryError) {
                        try await operation(index)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var wins = 0
            var errors: [PaymentRepositoryError] = []
            for await outcome in group {
                if let outcome { errors.append(outcome) } else { wins += 1 }
            }
            return (wins, errors)
        }
    }

    @Test func theSchemaHasTheDocumentedIndexesAndTypes() async throws {
        try await self.withRepository { _, store in
            let (indexes, amountType, timestampTypes) = try await store.withClient { client in
                var indexes: [String: String] = [:]
                let rows = try await client.query(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'payments'",
                    logger: IntegrationEnvironment.logger
                )
                for try await (name, definition) in rows.decode((String, String).self) { indexes[name] = definition }
                var amountType = ""
                let amount = try await client.query(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'payments'::regclass AND attname = 'amount'",
                    logger: IntegrationEnvironment.logger
                )
                for try await type in amount.decode(String.self) { amountType = type }
                var timestampTypes: Set<String> = []
                let timestamps = try await client.query(
                    """
                    SELECT data_type FROM information_schema.columns
                    WHERE table_name = 'payments' AND column_name IN ('created_at', 'updated_at', 'refunded_at')
                    """,
                    logger: IntegrationEnvironment.logger
                )
                for try await type in timestamps.decode(String.self) { timestampTypes.insert(type) }
                return (indexes, amountType, timestampTypes)
            }
            #expect(amountType == "numeric(12,2)")
            #expect(timestampTypes == ["timestamp with time zone"])
            #expect(indexes["payments_pkey"]?.contains("UNIQUE INDEX payments_pkey ON public.payments USING btree (payment_id)") == true)
            #expect(indexes["payments_user_idempotency_key"]?.contains("(user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL)") == true)
            let fingerprint = try #require(indexes["payments_active_fingerprint_key"])
            #expect(fingerprint.contains("UNIQUE INDEX") && fingerprint.contains("(fingerprint) WHERE ((idempotency_key IS NULL) AND"))
            #expect(fingerprint.contains("'failed'"))
            #expect(indexes["payments_order_id_idx"]?.contains("(order_id)") == true)
            #expect(indexes["payments_user_created_idx"]?.contains("(user_id, created_at DESC, seq DESC)") == true)
            #expect(indexes["payments_status_idx"]?.contains("(status)") == true)
        }
    }

    @Test func migrationsAreIdempotentAcrossRestarts() async throws {
        try await self.withRepository { repository, store in
            try await repository.insert(self.payment(id: "p1"))
            // Two more replicas start at once on the same database: the advisory lock lets one migrate.
            let again = [
                PostgresStore(settings: store.settings, migrations: PostgresPaymentRepository.migrations, logger: IntegrationEnvironment.logger),
                PostgresStore(settings: store.settings, migrations: PostgresPaymentRepository.migrations, logger: IntegrationEnvironment.logger),
            ]
            try await withRunningServices(again) {
                for replica in again {
                    try await PostgresPaymentTestDatabase.waitUntilReady(replica)
                    #expect(try await PostgresPaymentRepository(store: replica, logger: IntegrationEnvironment.logger).find(paymentID: "p1") != nil)
                }
            }
            let versions = try await store.withClient { client in
                var versions: [Int] = []
                for try await version in try await client.query("SELECT version FROM schema_migrations", logger: IntegrationEnvironment.logger)
                    .decode(Int.self)
                {
                    versions.append(version)
                }
                return versions
            }
            #expect(versions == PostgresPaymentRepository.migrations.map(\.version))
        }
    }

    @Test func anUnreachableDatabaseIsUnavailableWithinTheTimeout() async throws {
        let settings = try PostgresSettings(
            settings: IntegrationEnvironment.settings.with(["POSTGRES_PORT": "9", "POSTGRES_DB": "nowhere", "POSTGRES_QUERY_TIMEOUT_MS": "500"]),
            defaultDatabase: "nowhere"
        )
        let store = PostgresStore(settings: settings, migrations: PostgresPaymentRepository.migrations, logger: IntegrationEnvironment.logger)
        let repository = PostgresPaymentRepository(store: store, logger: IntegrationEnvironment.logger)
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
                #expect(clock.now - start < .seconds(2), "bounded by POSTGRES_QUERY_TIMEOUT_MS")
            }
        }
    }
}

/// Fresh databases for the payment tests, on ci/infra's PostgreSQL.
enum PostgresPaymentTestDatabase {
    static func makeStore(_ extra: [String: String] = [:]) throws -> PostgresStore {
        let database = IntegrationEnvironment.uniqueName("payment_db_test")
        let settings = try PostgresSettings(
            settings: IntegrationEnvironment.settings.with(["POSTGRES_DB": database].merging(extra) { _, new in new }),
            defaultDatabase: database
        )
        return PostgresStore(settings: settings, migrations: PostgresPaymentRepository.migrations, logger: IntegrationEnvironment.logger)
    }

    static func waitUntilReady(_ store: PostgresStore, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await store.isHealthy()), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try #require(await store.isHealthy(), "database created and migrated")
    }

    /// Runs `body`, then drops `database` whatever happened (FORCE ends connections the pool has not closed yet).
    static func dropAfterwards(_ database: String, _ body: () async throws -> Void) async throws {
        var failure: (any Error)?
        do {
            try await body()
        } catch {
            failure = error
        }
        let settings = IntegrationEnvironment.settings
        if let host = settings["POSTGRES_HOST"], let user = settings["POSTGRES_USER"] {
            let configuration = PostgresClient.Configuration(
                host: host,
                port: Int(settings["POSTGRES_PORT"] ?? "") ?? 5432,
                username: user,
                password: settings["POSTGRES_PASSWORD"],
                database: "postgres",
                tls: .disable
            )
            let client = PostgresClient(configuration: configuration)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                _ = try? await client.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(database)\" WITH (FORCE)"),
                    logger: IntegrationEnvironment.logger
                )
                group.cancelAll()
            }
        }
        if let failure { throw failure }
    }
}
