import BookstoreCore
import FaultInjection
import Synchronization
import Testing

@Suite struct ConnectionLossLatchTests {
    /// A bus whose health the test sets.
    final class Flaky: EventBus {
        let up = Atomic(false)
        func declareExchanges(_ names: [String]) async throws {}
        func declareQueue(_ spec: QueueSpec) async throws {}
        func publish(_ message: EventMessage) async throws {}
        func consume(queue: String, prefetch: Int, handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome) async throws {}
        func isHealthy() async -> Bool { self.up.load(ordering: .relaxed) }
    }

    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    @Test func tripsOnlyWhenAConnectionThatWasUpGoesDown() async throws {
        let bus = Flaky()
        let latch = ConnectionLossLatch(watching: bus, every: .milliseconds(1))
        try await Task.sleep(for: .milliseconds(30))
        #expect(!latch.isTripped, "down before the first connection is start-up, not a loss")
        bus.up.store(true, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(30))
        #expect(!latch.isTripped)
        bus.up.store(false, ordering: .relaxed)
        #expect(try await Self.eventually { latch.isTripped })
        bus.up.store(true, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(30))
        #expect(latch.isTripped, "it stays tripped after the reconnection")
    }
}
