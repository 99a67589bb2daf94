import BookstoreCore
import BookstorePostgres
import Foundation
import Logging
import PostgresNIO

/// Payments in PostgreSQL, for the Java flavour (`payment_db`, table `payments`).
///
/// The uniqueness rules are PostgreSQL's own indexes, so concurrent identical requests cannot both claim a payment:
/// the primary key on `payment_id`, a partial unique index on `(user_id, idempotency_key)` where a key is set, and a
/// partial unique index on `fingerprint` among unkeyed payments that have not failed. A unique violation (SQLSTATE
/// 23505) becomes the ``PaymentRepositoryError`` of the violated index; a database that cannot be reached, or does not
/// answer within `POSTGRES_QUERY_TIMEOUT_MS`, becomes ``PaymentRepositoryError/unavailable(_:)`` (503).
///
/// Amounts are `NUMERIC(12,2)`, written from and read back as whole cents (never binary floating point); timestamps
/// are `TIMESTAMPTZ`. Newest-first paging breaks ties between equal `created_at` by insertion order (`seq`), like
/// ``MemoryPaymentRepository``.
public final class PostgresPaymentRepository: PaymentRepository {
    let store: PostgresStore
    let logger: Logger

    public init(store: PostgresStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The names of the unique indexes, as PostgreSQL reports them in a unique violation.
    enum Constraint {
        static let paymentID = "payments_pkey"
        static let idempotencyKey = "payments_user_idempotency_key"
        static let activeFingerprint = "payments_active_fingerprint_key"
    }

    /// The schema, applied idempotently at start-up.
    public static let migrations = [
        Migration(
            version: 1,
            name: "payments",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS payments (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY,
                    payment_id VARCHAR(100) NOT NULL,
                    order_id VARCHAR(100) NOT NULL,
                    user_id VARCHAR(100) NOT NULL,
                    amount NUMERIC(12, 2) NOT NULL,
                    currency VARCHAR(3) NOT NULL,
                    payment_method VARCHAR(20) NOT NULL,
                    status VARCHAR(20) NOT NULL,
                    transaction_id VARCHAR(64),
                    message TEXT NOT NULL,
                    book_id VARCHAR(100),
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    refunded_at TIMESTAMPTZ,
                    idempotency_key VARCHAR(255),
                    fingerprint TEXT NOT NULL,
                    CONSTRAINT \(Constraint.paymentID) PRIMARY KEY (payment_id),
                    CONSTRAINT payments_status_check CHECK (status IN ('pending', 'completed', 'failed', 'refunded', 'cancelled'))
                )
                """,
                """
                CREATE UNIQUE INDEX IF NOT EXISTS \(Constraint.idempotencyKey) ON payments (user_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL
                """,
                """
                CREATE UNIQUE INDEX IF NOT EXISTS \(Constraint.activeFingerprint) ON payments (fingerprint)
                WHERE idempotency_key IS NULL AND status <> 'failed'
                """,
                "CREATE INDEX IF NOT EXISTS payments_order_id_idx ON payments (order_id)",
                "CREATE INDEX IF NOT EXISTS payments_user_created_idx ON payments (user_id, created_at DESC, seq DESC)",
                "CREATE INDEX IF NOT EXISTS payments_status_idx ON payments (status)",
            ]
        ),
        Migration(
            version: 2,
            name: "processed_messages",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS processed_messages (
                    queue TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (queue, message_id)
                )
                """
            ]
        ),
        Migration(
            version: 3,
            name: "processed_messages_leases",
            statements: [
                // A row is a completed message, or a claim leased until lease_until; rows from before are completed.
                "ALTER TABLE processed_messages ADD COLUMN IF NOT EXISTS completed BOOLEAN NOT NULL DEFAULT TRUE",
                "ALTER TABLE processed_messages ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ",
            ]
        ),
        Migration(
            version: 4,
            name: "payments_pending_event",
            statements: [
                // The transactional outbox: the id of the event a state change announces, written with the change.
                "ALTER TABLE payments ADD COLUMN IF NOT EXISTS pending_event_id TEXT",
                "CREATE INDEX IF NOT EXISTS payments_pending_event_idx ON payments (updated_at) WHERE pending_event_id IS NOT NULL",
            ]
        ),
    ]

    /// How many columns ``columns`` selects (a window count selected after them is at this index).
    static let columnCount = 16

    /// The columns every read decodes, in ``decode(_:)``'s order (the amount in cents).
    static let columns = """
        payment_id, order_id, user_id, (amount * 100)::BIGINT, currency, payment_method, status, transaction_id, message,
        book_id, created_at, updated_at, refunded_at, idempotency_key, fingerprint, pending_event_id
        """

    public func insert(_ payment: Payment) async throws(PaymentRepositoryError) {
        try await self.run { client in
            _ = try await client.query(
                """
                INSERT INTO payments (payment_id, order_id, user_id, amount, currency, payment_method, status, transaction_id,
                                      message, book_id, created_at, updated_at, refunded_at, idempotency_key, fingerprint,
                                      pending_event_id)
                VALUES (\(payment.paymentID), \(payment.orderID), \(payment.userID), CAST(\(payment.amount.cents) AS NUMERIC) / 100,
                        \(payment.currency.rawValue), \(payment.method.rawValue), \(payment.status.rawValue), \(payment.transactionID),
                        \(payment.message), \(payment.bookID), \(PostgresTimestamp(payment.createdAt)), \(PostgresTimestamp(payment.updatedAt)),
                        \(payment.refundedAt.map(PostgresTimestamp.init)), \(payment.idempotencyKey), \(payment.fingerprint),
                        \(payment.pendingEventID))
                """,
                logger: self.logger
            )
        }
    }

    public func find(paymentID: String) async throws(PaymentRepositoryError) -> Payment? {
        try await self.fetch("SELECT \(unescaped: Self.columns) FROM payments WHERE payment_id = \(paymentID)")
    }

    public func find(userID: String, idempotencyKey: String) async throws(PaymentRepositoryError) -> Payment? {
        try await self.fetch("SELECT \(unescaped: Self.columns) FROM payments WHERE user_id = \(userID) AND idempotency_key = \(idempotencyKey)")
    }

    public func findActive(fingerprint: String) async throws(PaymentRepositoryError) -> Payment? {
        // The predicate of the partial unique index: at most one row.
        try await self.fetch(
            "SELECT \(unescaped: Self.columns) FROM payments WHERE fingerprint = \(fingerprint) AND idempotency_key IS NULL AND status <> 'failed'"
        )
    }

    public func list(userID: String, offset: Int, limit: Int) async throws(PaymentRepositoryError) -> PaymentPage {
        let offset = max(0, offset)
        let limit = max(0, limit)
        return try await self.run { client in
            // The window count is taken before LIMIT/OFFSET, in the same snapshot as the page.
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.columns), count(*) OVER () FROM payments WHERE user_id = \(userID)
                ORDER BY created_at DESC, seq DESC LIMIT \(limit) OFFSET \(offset)
                """,
                logger: self.logger
            )
            var payments: [Payment] = []
            var total = 0
            for try await row in rows {
                let columns = try row.decode(Self.Columns.self)
                payments.append(try Self.payment(columns))
                total = try row.makeRandomAccess()[Self.columnCount].decode(Int.self)
            }
            if payments.isEmpty, offset > 0 || limit == 0 {
                // An empty page says nothing about the total: count separately.
                let counts = try await client.query("SELECT count(*) FROM payments WHERE user_id = \(userID)", logger: self.logger)
                for try await count in counts.decode(Int.self) { total = count }
            }
            return PaymentPage(payments: payments, total: total)
        }
    }

    public func update(_ payment: Payment, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        let outcome = try await self.run { client -> PaymentStatus?? in
            let rows = try await client.query(
                """
                UPDATE payments SET order_id = \(payment.orderID), user_id = \(payment.userID),
                    amount = CAST(\(payment.amount.cents) AS NUMERIC) / 100, currency = \(payment.currency.rawValue),
                    payment_method = \(payment.method.rawValue), status = \(payment.status.rawValue),
                    transaction_id = \(payment.transactionID), message = \(payment.message), book_id = \(payment.bookID),
                    created_at = \(PostgresTimestamp(payment.createdAt)), updated_at = \(PostgresTimestamp(payment.updatedAt)),
                    refunded_at = \(payment.refundedAt.map(PostgresTimestamp.init)), idempotency_key = \(payment.idempotencyKey),
                    fingerprint = \(payment.fingerprint), pending_event_id = \(payment.pendingEventID)
                WHERE payment_id = \(payment.paymentID) AND status = \(expectedStatus.rawValue)
                RETURNING payment_id
                """,
                logger: self.logger
            )
            var matched = false
            for try await _ in rows { matched = true }
            return matched ? .some(nil) : try await self.currentStatus(paymentID: payment.paymentID, client: client)
        }
        switch outcome {
        case .none: throw .notFound
        case .some(.none): return
        case .some(.some(let current)): throw .statusChanged(current: current)
        }
    }

    public func takeOver(paymentID: String, staleBefore: Date, now: Date) async throws(PaymentRepositoryError) -> Bool {
        try await self.run { client in
            let rows = try await client.query(
                """
                UPDATE payments SET updated_at = \(PostgresTimestamp(now))
                WHERE payment_id = \(paymentID) AND status = \(PaymentStatus.pending.rawValue) AND updated_at < \(PostgresTimestamp(staleBefore))
                RETURNING payment_id
                """,
                logger: self.logger
            )
            var matched = false
            for try await _ in rows { matched = true }
            return matched
        }
    }

    public func delete(paymentID: String, expectedStatus: PaymentStatus) async throws(PaymentRepositoryError) {
        let outcome = try await self.run { client -> PaymentStatus?? in
            let rows = try await client.query(
                "DELETE FROM payments WHERE payment_id = \(paymentID) AND status = \(expectedStatus.rawValue) RETURNING payment_id",
                logger: self.logger
            )
            var matched = false
            for try await _ in rows { matched = true }
            return matched ? .some(nil) : try await self.currentStatus(paymentID: paymentID, client: client)
        }
        // Already gone is not an error; another status is.
        if case .some(.some(let current)) = outcome { throw .statusChanged(current: current) }
    }

    public func clearPendingEvent(paymentID: String, eventID: String) async throws(PaymentRepositoryError) {
        _ = try await self.run { client in
            try await client.query(
                "UPDATE payments SET pending_event_id = NULL WHERE payment_id = \(paymentID) AND pending_event_id = \(eventID)",
                logger: self.logger
            )
        }
    }

    public func withPendingEvents(updatedBefore: Date, limit: Int) async throws(PaymentRepositoryError) -> [Payment] {
        try await self.run { client in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.columns) FROM payments
                WHERE pending_event_id IS NOT NULL AND updated_at < \(PostgresTimestamp(updatedBefore))
                ORDER BY updated_at LIMIT \(max(1, limit))
                """,
                logger: self.logger
            )
            var payments: [Payment] = []
            for try await columns in rows.decode(Self.Columns.self) { payments.append(try Self.payment(columns)) }
            return payments
        }
    }

    public func isHealthy() async -> Bool { await self.store.isHealthy() }

    /// After a conditional statement matched nothing: `nil` when the payment does not exist, else `.some(status)`.
    private func currentStatus(paymentID: String, client: PostgresClient) async throws -> PaymentStatus?? {
        let rows = try await client.query("SELECT status FROM payments WHERE payment_id = \(paymentID)", logger: self.logger)
        var current: PaymentStatus??
        for try await status in rows.decode(String.self) {
            guard let status = PaymentStatus(rawValue: status) else { throw CorruptRow(column: "status") }
            current = .some(status)
        }
        return current
    }

    private func fetch(_ query: PostgresQuery) async throws(PaymentRepositoryError) -> Payment? {
        try await self.run { client in
            // Every query selects by a unique key: at most one row (read to the end, which frees the connection).
            var payment: Payment?
            for try await columns in try await client.query(query, logger: self.logger).decode(Self.Columns.self) {
                payment = try Self.payment(columns)
            }
            return payment
        }
    }

    public func claim(messageID: String, queue: String, now: Date, leaseUntil: Date) async throws -> LedgerClaim {
        try await self.run { client in
            // One statement: a new claim, or the takeover of a claim whose lease ran out without completing.
            let rows = try await client.query(
                """
                INSERT INTO processed_messages (queue, message_id, completed, lease_until)
                VALUES (\(queue), \(messageID), FALSE, \(PostgresTimestamp(leaseUntil)))
                ON CONFLICT (queue, message_id) DO UPDATE SET lease_until = EXCLUDED.lease_until, processed_at = now()
                WHERE NOT processed_messages.completed AND processed_messages.lease_until < \(PostgresTimestamp(now))
                RETURNING 1
                """,
                logger: self.logger
            )
            var claimed = false
            for try await _ in rows { claimed = true }
            if claimed { return .claimed }
            let existing = try await client.query(
                "SELECT completed FROM processed_messages WHERE queue = \(queue) AND message_id = \(messageID)",
                logger: self.logger
            )
            var completed = false
            for try await value in existing.decode(Bool.self) { completed = value }
            return completed ? .completed : .inProgress
        }
    }

    public func complete(messageID: String, queue: String) async throws {
        _ = try await self.run { client in
            try await client.query(
                """
                UPDATE processed_messages SET completed = TRUE, lease_until = NULL, processed_at = now()
                WHERE queue = \(queue) AND message_id = \(messageID)
                """,
                logger: self.logger
            )
        }
    }

    public func release(messageID: String, queue: String) async throws {
        _ = try await self.run { client in
            try await client.query(
                "DELETE FROM processed_messages WHERE queue = \(queue) AND message_id = \(messageID) AND NOT completed",
                logger: self.logger
            )
        }
    }

    /// Runs `body` on the pool, mapping every failure to a ``PaymentRepositoryError``: a unique violation to the
    /// duplicate of its index, anything else (no connection, timeout, another server error) to
    /// ``PaymentRepositoryError/unavailable(_:)`` with a text for the logs (no query text, no values).
    private func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws(PaymentRepositoryError) -> T {
        do {
            return try await self.store.withClient(body)
        } catch let error as PSQLError where error.sqlState == "23505" {
            switch error.constraintName {
            case Constraint.paymentID: throw .duplicatePaymentID
            case Constraint.idempotencyKey: throw .duplicateIdempotencyKey
            case Constraint.activeFingerprint: throw .duplicateFingerprint
            default: throw .unavailable("database unique violation on \(error.constraintName ?? "an unknown constraint")")
            }
        } catch let error as PSQLError where PostgresStore.isServerError(error) {
            throw .unavailable("database error (SQLSTATE \(error.sqlState ?? "unknown"))")
        } catch let error as DependencyError {
            throw .unavailable(error.description)
        } catch {
            throw .unavailable(DependencyError(dependency: "database", underlying: error).description)
        }
    }

    // MARK: Row mapping

    typealias Columns = (
        String, String, String, Int64, String, String, String, String?, String, String?, PostgresTimestamp, PostgresTimestamp, PostgresTimestamp?,
        String?, String, String?
    )

    static func payment(_ columns: Columns) throws -> Payment {
        let (id, order, user, cents, currency, method, status, transaction, message, book, created, updated, refunded, key, fingerprint, event) =
            columns
        guard let currency = Currency(rawValue: currency) else { throw CorruptRow(column: "currency") }
        guard let method = PaymentMethod(rawValue: method) else { throw CorruptRow(column: "payment_method") }
        guard let status = PaymentStatus(rawValue: status) else { throw CorruptRow(column: "status") }
        return Payment(
            paymentID: id,
            orderID: order,
            userID: user,
            amount: Money(cents: cents),
            currency: currency,
            method: method,
            status: status,
            transactionID: transaction,
            message: message,
            bookID: book,
            createdAt: created.date,
            updatedAt: updated.date,
            refundedAt: refunded?.date,
            idempotencyKey: key,
            fingerprint: fingerprint,
            pendingEventID: event
        )
    }

    /// A stored value this version cannot read (an unknown currency, method or status).
    struct CorruptRow: Error {
        let column: String
    }
}

/// A `TIMESTAMPTZ` bound and read as whole microseconds rounded to the nearest one, so a millisecond timestamp
/// round-trips exactly (postgres-nio's own `Date` encoding truncates: `.123` would be stored as `.122999`).
struct PostgresTimestamp: PostgresNonThrowingEncodable, PostgresDecodable {
    var date: Date

    init(_ date: Date) {
        self.date = date
    }

    /// Microseconds from 1970-01-01 (Foundation's epoch) to 2000-01-01 (PostgreSQL's).
    static let epochOffset: Int64 = 946_684_800_000_000

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(Int64((self.date.timeIntervalSince1970 * 1_000_000).rounded()) - Self.epochOffset)
    }

    init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer,
        type: PostgresDataType,
        format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        guard type == .timestamptz || type == .timestamp else { throw PostgresDecodingError.Code.typeMismatch }
        guard format == .binary, buffer.readableBytes == 8, let microseconds = buffer.readInteger(as: Int64.self) else {
            throw PostgresDecodingError.Code.failure
        }
        self.date = Date(timeIntervalSince1970: Double(microseconds + Self.epochOffset) / 1_000_000)
    }
}
