import BookstoreTesting
import PaymentsService
import Testing

/// The in-memory adapter (embedded mode and unit tests) held to the contract the database adapters pass in
/// `IntegrationTests`; needs no server, so it always runs.
@Suite struct MemoryPaymentRepositoryContractTests {
    @Test(arguments: PaymentRepositoryContract.checks)
    func contract(_ check: ContractCheck<any PaymentRepository>) async throws {
        try await check.run(MemoryPaymentRepository())
    }
}
