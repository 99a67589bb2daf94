import BookstoreTesting
import ReviewsService
import Testing

/// The in-memory adapters (embedded mode and unit tests) held to the contract the MongoDB adapters pass in
/// `IntegrationTests`; need no server, so they always run.
@Suite struct MemoryReviewRepositoryContractTests {
    @Test(arguments: ReviewRepositoryContract.checks.excluding("concurrentCreatesKeepOneActiveReview"))
    func contract(_ check: ContractCheck<any ReviewRepository>) async throws {
        try await check.run(MemoryReviewRepository())
    }

    /// More creates than the databases are given: the memory adapter's lock is cheap to race.
    @Test func concurrentCreatesKeepOneActiveReview() async throws {
        try await ReviewRepositoryContract.concurrentCreatesKeepOneActiveReview(MemoryReviewRepository(), tasks: 100)
    }

    @Test(arguments: ReviewRepositoryContract.purchaseChecks)
    func purchaseContract(_ check: ContractCheck<any PurchaseRepository>) async throws {
        try await check.run(MemoryPurchaseRepository())
    }
}
