import BookstoreCore
import ServiceLifecycle

/// The relay of the transactional outbox: every `interval`, publishes the events stored with a payment that the bus
/// has not taken (a replica died between storing the change and publishing, or the bus refused the event), leaving
/// those changed within the last interval to the request that is still delivering them. Every replica runs one; a
/// payment's event may then be published twice, always with the same `message_id`.
struct PendingEventRelay: Service {
    let engine: PaymentEngine
    let interval: Duration

    func run() async throws {
        // Ends quietly at graceful shutdown: the relay's work is never lost, only postponed to the next replica.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                guard !Task.isCancelled else { return }
                await self.engine.relayPendingEvents(grace: self.interval)
            }
        }
    }
}
