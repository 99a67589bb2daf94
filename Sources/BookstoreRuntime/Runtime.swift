import AMQPBus
import BookstoreCore
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs services: one per process (`bookstore serve`) or all five in one process (`bookstore up`).
public enum Runtime {
    /// The development-only secret `bookstore up` uses when `JWT_SECRET` is not set.
    public static let embeddedDevelopmentSecret = "embedded-development-secret-change-me-0123456789"

    /// The event bus chosen by `EVENT_BUS`: `memory` (in-process) or `rabbitmq` (AMQP, with the `RABBITMQ_*` settings).
    /// - Returns: the bus, and the services that must run before (and stop after) the ones that use it.
    public static func makeEventBus(settings: Settings, serviceName: String = "bookstore", logger: Logger) throws -> (any EventBus, [any Service]) {
        let kind = try settings.choice("EVENT_BUS", default: "memory", allowed: ["memory", "rabbitmq"])
        guard kind == "rabbitmq" else { return (InProcessEventBus(), []) }
        let bus = try AMQPEventBus(settings: settings, serviceName: serviceName, logger: logger)
        return (bus, [bus])
    }

    /// Runs one service until SIGTERM/SIGINT.
    public static func serve(_ kind: ServiceKind, settings: Settings, logger: Logger) async throws {
        let settings = settings.withDefaults(["PORT": String(kind.defaultPort)])
        let (bus, busServices) = try makeEventBus(
            settings: settings,
            serviceName: settings.string("SERVICE_NAME", default: kind.rawValue),
            logger: logger
        )
        let serviceBus = EventBusSeam.apply(to: bus, serviceName: settings.string("SERVICE_NAME", default: kind.rawValue))
        let built = try await kind.builder(settings, serviceBus) { _ in }
        let group = ServiceGroup(
            configuration: .init(services: busServices + built.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }

    /// The settings of each service in the embedded mode: its own port, the gateway pointed at the others, and the
    /// others trusting the gateway's `X-Forwarded-For` (`TRUSTED_PROXIES`: loopback, where the gateway connects from,
    /// unless set).
    public static func embeddedSettings(_ settings: Settings) throws -> [(ServiceKind, Settings)] {
        var base = settings.withDefaults(["JWT_SECRET": embeddedDevelopmentSecret, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin123"])
        base["PORT"] = nil
        base["SERVICE_NAME"] = nil
        var ports: [ServiceKind: Int] = [:]
        for kind in ServiceKind.allCases {
            ports[kind] = try base.int(kind.portSetting, default: kind.defaultPort, range: 0...65535)
        }
        let host = base.string("HOST", default: "127.0.0.1")
        var upstreams: [String: String] = [:]
        for kind in ServiceKind.allCases {
            if let key = kind.upstreamSetting, base[key] == nil, let port = ports[kind] { upstreams[key] = "http://\(host):\(port)" }
        }
        return ServiceKind.allCases.map { kind in
            var service = base.with(["PORT": String(ports[kind] ?? kind.defaultPort)])
            if kind == .gateway {
                service = service.with(upstreams)
            } else {
                service = service.withDefaults(["TRUSTED_PROXIES": "127.0.0.1,::1"])
            }
            return (kind, service)
        }
    }

    /// Runs all five services in this process with one in-process event bus until SIGTERM/SIGINT, and calls
    /// `onReady` with each service's URL once all of them listen.
    public static func up(
        settings: Settings,
        logger: Logger,
        onReady: @escaping @Sendable ([(ServiceKind, String)]) -> Void
    ) async throws {
        // The embedded mode always uses the in-process bus: all five services share it.
        let bus = InProcessEventBus()
        let perService = try embeddedSettings(settings)
        let host = settings.string("HOST", default: "127.0.0.1")
        let listening = Mutex<[(ServiceKind, String)]>([])
        var services: [any Service] = []
        // Build the gateway last so that it starts after the services it routes to.
        for (kind, serviceSettings) in perService.sorted(by: { ($0.0 == .gateway ? 1 : 0) < ($1.0 == .gateway ? 1 : 0) }) {
            let built = try await kind.builder(serviceSettings, bus) { port in
                let all = listening.withLock { listening -> [(ServiceKind, String)]? in
                    listening.append((kind, "http://\(host):\(port)"))
                    return listening.count == ServiceKind.allCases.count ? listening : nil
                }
                if let all { onReady(ServiceKind.allCases.compactMap { kind in all.first { $0.0 == kind } }) }
            }
            services.append(contentsOf: built.services)
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
