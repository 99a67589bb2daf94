import BookstoreCore
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exchanges and queues this process declared, re-declared on every new connection (a broker that lost its
/// definitions gets them back).
final class TopologyRegistry: Sendable {
    private struct State {
        var exchanges: [String] = []
        var queues: [QueueSpec] = []
    }

    private let state = Mutex(State())

    func add(exchanges names: [String]) {
        self.state.withLock { state in
            for name in names where !name.isEmpty && !state.exchanges.contains(name) { state.exchanges.append(name) }
        }
    }

    func add(queue spec: QueueSpec) {
        self.state.withLock { state in
            if let index = state.queues.firstIndex(where: { $0.name == spec.name }) {
                state.queues[index] = spec
            } else {
                state.queues.append(spec)
            }
        }
    }

    func spec(for queue: String) -> QueueSpec? {
        self.state.withLock { $0.queues.first { $0.name == queue } }
    }

    /// Every declaration, each once, in a valid order.
    func declarations() -> [Declaration] {
        let (exchanges, queues) = self.state.withLock { ($0.exchanges, $0.queues) }
        return Topology.deduplicated(exchanges.flatMap(Topology.exchangeDeclarations) + queues.flatMap(Topology.queueDeclarations))
    }
}

extension Topology {
    /// `declarations` without repetitions (first occurrence kept).
    static func deduplicated(_ declarations: [Declaration]) -> [Declaration] {
        var result: [Declaration] = []
        for declaration in declarations where !result.contains(declaration) {
            result.append(declaration)
        }
        return result
    }
}

/// When to try connecting again: at once after a connection that had been up for a while, otherwise after an
/// exponentially growing, jittered delay.
struct ReconnectSchedule {
    /// A connection that lived this long is considered healthy: losing it reconnects immediately.
    static let stablePeriod: Duration = .seconds(10)

    let backoff: Backoff
    private(set) var failedAttempts = 0
    private(set) var nextAttempt: ContinuousClock.Instant
    private var connectedAt: ContinuousClock.Instant?
    private var generator = SystemRandomNumberGenerator()

    init(backoff: Backoff, now: ContinuousClock.Instant = .now) {
        self.backoff = backoff
        self.nextAttempt = now
    }

    func isDue(now: ContinuousClock.Instant = .now) -> Bool { now >= self.nextAttempt }

    func timeUntilDue(now: ContinuousClock.Instant = .now) -> Duration { max(.zero, self.nextAttempt - now) }

    mutating func connected(now: ContinuousClock.Instant = .now) {
        self.connectedAt = now
    }

    /// Records a failed attempt; returns the delay before the next one.
    @discardableResult
    mutating func attemptFailed(now: ContinuousClock.Instant = .now) -> Duration {
        self.failedAttempts += 1
        let delay = self.backoff.delay(afterAttempt: self.failedAttempts, using: &self.generator)
        self.nextAttempt = now + delay
        return delay
    }

    /// Records the loss of an established connection.
    mutating func connectionLost(now: ContinuousClock.Instant = .now) {
        defer { self.connectedAt = nil }
        if let connectedAt = self.connectedAt, now - connectedAt >= Self.stablePeriod {
            self.failedAttempts = 0
            self.nextAttempt = now
        } else {
            self.attemptFailed(now: now)
        }
    }
}

/// Whether the publisher connection is up, shared between its thread and readiness checks.
final class HealthFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isUp: Bool { self.value.load(ordering: .acquiring) }

    func set(_ up: Bool) { self.value.store(up, ordering: .releasing) }
}

/// How many times any of a bus's connections (publisher or consumer) was lost while up, shared by their threads.
final class ConnectionLossTally: Sendable {
    private let value = Atomic<Int>(0)

    var count: Int { self.value.load(ordering: .acquiring) }

    func increment() { self.value.add(1, ordering: .releasing) }
}

/// The bus's own series: `amqp_reconnects_total{connection}`, `amqp_connection_up{connection}` and
/// `amqp_outbox_messages`; and its tally of lost connections.
struct BusInstruments: Sendable {
    private let reconnects: Counter?
    private let connectionUp: Gauge?
    private let outboxMessages: Gauge?
    private let losses: ConnectionLossTally?

    init(metrics: ServiceMetrics?, connection: String, losses: ConnectionLossTally? = nil) {
        self.losses = losses
        self.reconnects = metrics?.counter(
            "amqp_reconnects_total",
            labels: [("connection", connection)],
            help: "AMQP connections re-established after a loss"
        )
        self.connectionUp = metrics?.gauge("amqp_connection_up", labels: [("connection", connection)], help: "Whether the AMQP connection is up")
        self.outboxMessages =
            connection == "publisher"
            ? metrics?.gauge("amqp_outbox_messages", help: "Messages waiting in the local outbox for the broker") : nil
    }

    func reconnected() { self.reconnects?.increment() }

    /// A connection that was up is lost.
    func connectionLost() {
        self.losses?.increment()
        self.connection(up: false)
    }

    func connection(up: Bool) { self.connectionUp?.set(to: up ? 1 : 0) }

    func outbox(count: Int) { self.outboxMessages?.set(to: Double(count)) }
}

/// Waits up to `milliseconds` for `descriptor` to become readable.
func waitReadable(_ descriptor: Int32, milliseconds: Int32) {
    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    _ = poll(&entry, 1, milliseconds)
}
