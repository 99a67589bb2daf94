import BookstoreCore
import Foundation
import Synchronization

/// A simulated gateway: waits `processingDelay`, fails transiently with probability `errorRate`, otherwise approves
/// with probability `successRate` and declines with "Payment declined by gateway".
///
/// With a seed, the sequence of outcomes is reproducible (transaction ids stay random, so they never collide
/// between replicas started with the same seed).
public final class SimulatedProcessor: PaymentProcessor {
    public struct Configuration: Sendable, Equatable {
        public var processingDelay: Duration
        public var successRate: Double
        public var errorRate: Double
        public var seed: UInt64?

        public init(processingDelay: Duration = .milliseconds(200), successRate: Double = 0.85, errorRate: Double = 0, seed: UInt64? = nil) {
            self.processingDelay = processingDelay
            self.successRate = successRate
            self.errorRate = errorRate
            self.seed = seed
        }
    }

    public static let declineMessage = "Payment declined by gateway"

    public let configuration: Configuration
    private let generator: Mutex<SeededGenerator?>

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.generator = Mutex(configuration.seed.map(SeededGenerator.init(seed:)))
    }

    public func charge(_ charge: Charge) async throws -> ChargeDecision {
        if self.configuration.processingDelay > .zero {
            try await Task.sleep(for: self.configuration.processingDelay)
        }
        if self.configuration.errorRate > 0, self.roll() < self.configuration.errorRate {
            throw ProcessorUnavailableError("simulated processor error")
        }
        guard self.roll() < self.configuration.successRate else { return .declined(reason: Self.declineMessage) }
        return .approved(transactionID: Self.makeTransactionID())
    }

    /// A uniform value in `0..<1`, from the seeded generator when there is one.
    private func roll() -> Double {
        self.generator.withLock { generator in
            if generator != nil { return Double.random(in: 0..<1, using: &generator!) }
            return Double.random(in: 0..<1)
        }
    }

    /// `TXN-` and 12 uppercase hex digits.
    static func makeTransactionID() -> String {
        let value = UInt64.random(in: 0...0xFFFF_FFFF_FFFF)
        let hex = String(value, radix: 16, uppercase: true)
        return "TXN-" + String(repeating: "0", count: 12 - hex.count) + hex
    }
}
