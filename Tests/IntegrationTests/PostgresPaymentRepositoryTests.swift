import BookstoreCore
import BookstorePostgres
import BookstoreTesting
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

    /// The shared contract (``PaymentRepositoryContract``); money is checked below with its stored form.
    @Test(arguments: PaymentRepositoryContract.checks.excluding("moneyIsStoredAsExactDecimals"))
    func contract(_ check: ContractCheck<any PaymentRepository>) async throws {
        try await self.withRepository { repository, _ in try await check.run(repository) }
    }

    @Test func moneyIsStoredAsExactDecimals() async throws {
        try await self.withRepository { repository, store in
            try await PaymentRepositoryContract.moneyIsStoredAsExactDecimals(repository)
            let stored = try await store.withClient { client in
                var texts: [String: String] = [:]
                let rows = try await client.query("SELECT payment_id, amount::TEXT FROM payments", logger: IntegrationEnvironment.logger)
                for try await (id, amount) in rows.decode((String, String).self) { texts[id] = amount }
                return texts
            }
            // Every amount as exact NUMERIC text (p1 "0.01", p1990 "19.90", p100000000 "1000000.00", p12345678 "123456.78"…).
            #expect(stored == Dictionary(uniqueKeysWithValues: PaymentRepositoryContract.exactAmounts.map { ("p\($0.key)", $0.value) }))
        }
    }

    @Test func timestampsAreStoredToTheMillisecond() async throws {
        try await self.withRepository { repository, store in
            var payment = PaymentRepositoryContract.payment(id: "p1", createdAt: PaymentRepositoryContract.date(1_700_000_000_123))
            payment.refundedAt = PaymentRepositoryContract.date(1_700_000_000_999)
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
            try await repository.insert(PaymentRepositoryContract.payment(id: "p1"))
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
            try await PaymentRepositoryContract.everyOperationIsUnavailableWithinTheTimeout(repository, timeoutSetting: "POSTGRES_QUERY_TIMEOUT_MS")
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
            let configuration = PostgresConnection.Configuration(
                host: host,
                port: Int(settings["POSTGRES_PORT"] ?? "") ?? 5432,
                username: user,
                password: settings["POSTGRES_PASSWORD"],
                database: "postgres",
                tls: .disable
            )
            if let connection = try? await PostgresConnection.connect(configuration: configuration, id: 0, logger: IntegrationEnvironment.logger) {
                _ = try? await connection.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(database)\" WITH (FORCE)"),
                    logger: IntegrationEnvironment.logger
                )
                try? await connection.close()
            }
        }
        if let failure { throw failure }
    }
}
