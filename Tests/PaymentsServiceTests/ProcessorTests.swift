import PaymentsService
import Testing

@Suite struct SimulatedProcessorTests {
    let charge = Charge(paymentID: "p", amount: Money(cents: 100), currency: .usd, method: .creditCard)

    func outcomes(_ processor: SimulatedProcessor, count: Int) async throws -> [Bool] {
        var outcomes: [Bool] = []
        for _ in 0..<count {
            if case .approved = try await processor.charge(self.charge) { outcomes.append(true) } else { outcomes.append(false) }
        }
        return outcomes
    }

    @Test func aSeedMakesOutcomesReproducible() async throws {
        let configuration = SimulatedProcessor.Configuration(processingDelay: .zero, successRate: 0.5, seed: 42)
        let first = try await self.outcomes(SimulatedProcessor(configuration: configuration), count: 64)
        let second = try await self.outcomes(SimulatedProcessor(configuration: configuration), count: 64)
        #expect(first == second)
        #expect(first.contains(true) && first.contains(false))
        var other = configuration
        other.seed = 7
        #expect(try await self.outcomes(SimulatedProcessor(configuration: other), count: 64) != first)
    }

    @Test func successRateIsHonoured() async throws {
        let configuration = SimulatedProcessor.Configuration(processingDelay: .zero, successRate: 0.85, seed: 1)
        let outcomes = try await self.outcomes(SimulatedProcessor(configuration: configuration), count: 2000)
        let rate = Double(outcomes.filter { $0 }.count) / Double(outcomes.count)
        #expect(abs(rate - 0.85) < 0.04)
        let never = SimulatedProcessor(configuration: .init(processingDelay: .zero, successRate: 0))
        #expect(try await never.charge(self.charge) == .declined(reason: "Payment declined by gateway"))
    }

    @Test func approvalsCarryATransactionID() async throws {
        let processor = SimulatedProcessor(configuration: .init(processingDelay: .zero, successRate: 1))
        var seen: Set<String> = []
        for _ in 0..<100 {
            guard case .approved(let id) = try await processor.charge(self.charge) else {
                Issue.record("expected an approval")
                return
            }
            #expect(id.wholeMatch(of: /TXN-[0-9A-F]{12}/) != nil, "\(id)")
            seen.insert(id)
        }
        #expect(seen.count == 100)
    }

    @Test func errorRateThrowsTransientErrors() async throws {
        let processor = SimulatedProcessor(configuration: .init(processingDelay: .zero, successRate: 1, errorRate: 1))
        await #expect(throws: ProcessorUnavailableError.self) { try await processor.charge(self.charge) }
    }

    @Test func theDelayIsWaited() async throws {
        let processor = SimulatedProcessor(configuration: .init(processingDelay: .milliseconds(50), successRate: 1))
        let start = ContinuousClock.now
        _ = try await processor.charge(self.charge)
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }
}
