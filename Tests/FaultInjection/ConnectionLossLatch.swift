import BookstoreCore
import Synchronization

/// Watches a bus's health every 10 ms and trips, for good, the first time the broker connection goes from up to down:
/// the state of a publisher that keeps its dead channel after the broker closes the connection and never recovers.
public final class ConnectionLossLatch: Sendable {
    private let tripped = Atomic(false)

    public init(watching bus: any EventBus, every interval: Duration = .milliseconds(10)) {
        Task {
            var wasUp = false
            while !self.isTripped {
                let up = await bus.isHealthy()
                if wasUp && !up { self.tripped.store(true, ordering: .relaxed) }
                wasUp = wasUp || up
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Whether the connection has been lost at least once since the bus first came up.
    public var isTripped: Bool { self.tripped.load(ordering: .relaxed) }
}
