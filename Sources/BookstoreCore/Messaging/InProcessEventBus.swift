import Foundation
import Synchronization

/// The embedded mode's event bus: RabbitMQ's topic routing, queues, retries and dead-lettering, in memory.
///
/// Messages published to an exchange are copied to every queue bound with a matching pattern, or to the
/// `unrouted` queue when none matches; a message published to the default exchange (empty name) goes to the
/// queue named by its routing key. Delayed retries are re-queued by the consumer's scheduler.
public final class InProcessEventBus: EventBus {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<EventMessage?, Never>
    }

    private struct QueueState {
        var messages: [EventMessage] = []
        var head = 0
        var waiters: [Waiter] = []
        var delayed: [(due: ContinuousClock.Instant, message: EventMessage)] = []

        mutating func popFirst() -> EventMessage? {
            guard self.head < self.messages.count else { return nil }
            let message = self.messages[self.head]
            self.head += 1
            if self.head > 1024, self.head * 2 > self.messages.count {
                self.messages.removeFirst(self.head)
                self.head = 0
            }
            return message
        }

        var pending: [EventMessage] { Array(self.messages[self.head...]) }
    }

    private struct State {
        var exchanges: Set<String> = []
        var queues: [String: QueueState] = [Exchanges.unroutedQueue: QueueState()]
        var bindings: [(exchange: String, pattern: String, queue: String)] = []
        var nextWaiterID: UInt64 = 0
        var cancelledWaiters: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    public func declareExchanges(_ names: [String]) async throws {
        self.state.withLock { $0.exchanges.formUnion(names) }
    }

    public func declareQueue(_ spec: QueueSpec) async throws {
        self.state.withLock { state in
            if state.queues[spec.name] == nil { state.queues[spec.name] = QueueState() }
            if state.queues[spec.deadLetterQueue] == nil { state.queues[spec.deadLetterQueue] = QueueState() }
            for binding in spec.bindings {
                state.exchanges.insert(binding.exchange)
                if !state.bindings.contains(where: { $0 == (binding.exchange, binding.pattern, spec.name) }) {
                    state.bindings.append((binding.exchange, binding.pattern, spec.name))
                }
            }
        }
    }

    public func publish(_ message: EventMessage) async throws {
        let resumptions = self.state.withLock { state -> [(Waiter, EventMessage)] in
            var targets: [String]
            if message.exchange.isEmpty {
                targets = state.queues[message.routingKey] != nil ? [message.routingKey] : []
            } else {
                targets = []
                for binding in state.bindings
                where binding.exchange == message.exchange && TopicPattern.matches(pattern: binding.pattern, routingKey: message.routingKey)
                    && !targets.contains(binding.queue)
                {
                    targets.append(binding.queue)
                }
            }
            if targets.isEmpty { targets = [Exchanges.unroutedQueue] }
            var resumptions: [(Waiter, EventMessage)] = []
            for queue in targets {
                if let waiter = Self.enqueue(message, into: queue, state: &state) { resumptions.append((waiter, message)) }
            }
            return resumptions
        }
        for (waiter, message) in resumptions { waiter.continuation.resume(returning: message) }
    }

    /// Adds `message` to `queue`, or returns the waiter that should receive it directly.
    private static func enqueue(_ message: EventMessage, into queue: String, state: inout State) -> Waiter? {
        if state.queues[queue] == nil { state.queues[queue] = QueueState() }
        if !state.queues[queue]!.waiters.isEmpty {
            return state.queues[queue]!.waiters.removeFirst()
        }
        state.queues[queue]!.messages.append(message)
        return nil
    }

    public func consume(
        queue: String,
        prefetch: Int,
        handler: @escaping @Sendable (EventMessage) async -> DeliveryOutcome
    ) async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, prefetch) {
                group.addTask {
                    while !Task.isCancelled {
                        guard let message = await self.next(from: queue) else { return }
                        let outcome = await handler(message)
                        self.settle(message, queue: queue, outcome: outcome)
                    }
                }
            }
            group.addTask {
                // The retry scheduler: moves delayed messages back to the queue when they are due.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(10))
                    self.promoteDueMessages(queue: queue)
                }
            }
            await group.waitForAll()
        }
    }

    private func settle(_ message: EventMessage, queue: String, outcome: DeliveryOutcome) {
        switch outcome {
        case .ack:
            return
        case .retry(let delay):
            var retried = message
            retried.attempt = message.attempt + 1
            self.state.withLock { state in
                state.queues[queue, default: QueueState()].delayed.append((ContinuousClock.now + delay, retried))
            }
        case .deadLetter(let reason):
            var parked = message
            parked.headers["x-death-reason"] = reason
            parked.headers["x-original-queue"] = queue
            let waiter = self.state.withLock { Self.enqueue(parked, into: queue + ".dlq", state: &$0) }
            waiter?.continuation.resume(returning: parked)
        }
    }

    private func promoteDueMessages(queue: String) {
        let now = ContinuousClock.now
        let resumptions = self.state.withLock { state -> [(Waiter, EventMessage)] in
            guard let delayed = state.queues[queue]?.delayed, !delayed.isEmpty else { return [] }
            let due = delayed.filter { $0.due <= now }
            guard !due.isEmpty else { return [] }
            state.queues[queue]!.delayed.removeAll { $0.due <= now }
            var resumptions: [(Waiter, EventMessage)] = []
            for entry in due {
                if let waiter = Self.enqueue(entry.message, into: queue, state: &state) { resumptions.append((waiter, entry.message)) }
            }
            return resumptions
        }
        for (waiter, message) in resumptions { waiter.continuation.resume(returning: message) }
    }

    /// The next message of `queue`, waiting for one; nil when the task is cancelled.
    private func next(from queue: String) async -> EventMessage? {
        let id = self.state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<EventMessage?, Never>) in
                let immediate: EventMessage?? = self.state.withLock { state in
                    if state.cancelledWaiters.remove(id) != nil { return .some(nil) }
                    if let message = state.queues[queue, default: QueueState()].popFirst() { return .some(message) }
                    state.queues[queue, default: QueueState()].waiters.append(Waiter(id: id, continuation: continuation))
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                if let index = state.queues[queue]?.waiters.firstIndex(where: { $0.id == id }) {
                    return state.queues[queue]!.waiters.remove(at: index)
                }
                state.cancelledWaiters.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    public func isHealthy() async -> Bool { true }

    /// The messages waiting in `queue` (for inspection: dead-letter and `unrouted` queues, tests).
    public func pendingMessages(in queue: String) -> [EventMessage] {
        self.state.withLock { $0.queues[queue]?.pending ?? [] }
    }
}
