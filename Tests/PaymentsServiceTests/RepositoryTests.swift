import Foundation
import PaymentsService
import Testing

@Suite struct MemoryPaymentRepositoryTests {
    func payment(
        id: String = UUID().uuidString.lowercased(),
        order: String = "order-1",
        user: String = "user-1",
        status: PaymentStatus = .pending,
        key: String? = nil,
        createdAt: Date = Date()
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
            message: "",
            bookID: nil,
            createdAt: createdAt,
            updatedAt: createdAt,
            refundedAt: nil,
            idempotencyKey: key,
            fingerprint: "\(order)|\(user)"
        )
    }

    @Test func paymentIDsAreUnique() async throws {
        let repository = MemoryPaymentRepository()
        let first = self.payment(id: "p1")
        try await repository.insert(first)
        await #expect(throws: PaymentRepositoryError.duplicatePaymentID) { try await repository.insert(self.payment(id: "p1", order: "other")) }
        #expect(try await repository.find(paymentID: "p1") == first)
        #expect(try await repository.find(paymentID: "p2") == nil)
    }

    @Test func idempotencyKeysAreUniquePerUser() async throws {
        let repository = MemoryPaymentRepository()
        try await repository.insert(self.payment(order: "a", key: "k1"))
        await #expect(throws: PaymentRepositoryError.duplicateIdempotencyKey) {
            try await repository.insert(self.payment(order: "b", key: "k1"))
        }
        try await repository.insert(self.payment(order: "a", user: "user-2", key: "k1"))
        #expect(try await repository.find(userID: "user-1", idempotencyKey: "k1")?.orderID == "a")
        #expect(try await repository.find(userID: "user-2", idempotencyKey: "k1")?.userID == "user-2")
        #expect(try await repository.find(userID: "user-3", idempotencyKey: "k1") == nil)
    }

    @Test func anUnkeyedFingerprintIsClaimedOnceUntilItFails() async throws {
        let repository = MemoryPaymentRepository()
        var first = self.payment(id: "p1")
        try await repository.insert(first)
        await #expect(throws: PaymentRepositoryError.duplicateFingerprint) { try await repository.insert(self.payment(id: "p2")) }
        // A keyed request with the same body does not take part.
        try await repository.insert(self.payment(id: "p3", key: "k"))
        #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p1")

        first.status = .failed
        try await repository.update(first, expectedStatus: .pending)
        #expect(try await repository.findActive(fingerprint: "order-1|user-1") == nil)
        try await repository.insert(self.payment(id: "p4"))
        #expect(try await repository.findActive(fingerprint: "order-1|user-1")?.paymentID == "p4")
    }

    @Test func updatesAreConditionalOnTheStatus() async throws {
        let repository = MemoryPaymentRepository()
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

    @Test func deletingAPendingClaimReleasesItsKeys() async throws {
        let repository = MemoryPaymentRepository()
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
    }

    @Test func listsNewestFirstWithTotals() async throws {
        let repository = MemoryPaymentRepository()
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        for index in 0..<5 {
            try await repository.insert(self.payment(id: "p\(index)", order: "o\(index)", createdAt: start.addingTimeInterval(Double(index))))
        }
        // Same timestamp as p4: insertion order breaks the tie.
        try await repository.insert(self.payment(id: "p5", order: "o5", createdAt: start.addingTimeInterval(4)))
        try await repository.insert(self.payment(id: "x", order: "o", user: "user-2"))
        let first = try await repository.list(userID: "user-1", offset: 0, limit: 2)
        #expect(first.total == 6)
        #expect(first.payments.map(\.paymentID) == ["p5", "p4"])
        let last = try await repository.list(userID: "user-1", offset: 4, limit: 10)
        #expect(last.payments.map(\.paymentID) == ["p1", "p0"])
        #expect(try await repository.list(userID: "user-1", offset: 10, limit: 10) == PaymentPage(payments: [], total: 6))
        #expect(try await repository.list(userID: "nobody", offset: 0, limit: 10).total == 0)
        #expect(await repository.isHealthy())
    }

    @Test func concurrentClaimsHaveOneWinner() async throws {
        let repository = MemoryPaymentRepository()
        let wins = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        try await repository.insert(self.payment())
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
    }
}
