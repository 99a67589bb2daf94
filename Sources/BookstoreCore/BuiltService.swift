import Hummingbird
import ServiceLifecycle

/// A service ready to run: its HTTP application, the drain step to run after it, and its scaffold (metrics,
/// readiness) for callers that inspect it (tests, the runtime).
public struct BuiltService: Sendable {
    public let application: Application<RouterResponder<BookstoreRequestContext>>
    public let scaffold: ServiceScaffold

    public init(application: Application<RouterResponder<BookstoreRequestContext>>, scaffold: ServiceScaffold) {
        self.application = application
        self.scaffold = scaffold
    }

    /// The services to put in a service group, in start order: the application, then the drain step (which, being
    /// last, is the first to see a graceful shutdown and turns readiness off before the server stops).
    public var services: [any Service] { [self.application, self.scaffold.drainService] }
}

/// The signature every service module offers to build itself from settings and an event bus.
public typealias ServiceBuilder =
    @Sendable (_ settings: Settings, _ bus: any EventBus, _ onServerRunning: @escaping @Sendable (Int) async -> Void)
    async throws -> BuiltService
