import HTTPTypes
import Hummingbird
import JSONKit
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// What every service is built from: its settings, metrics, readiness, token verifier, logger and error envelope.
/// It makes the router (with the observability middleware and `/metrics`) and the application.
public struct ServiceScaffold: Sendable {
    public let common: CommonSettings
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    public let tokens: TokenService
    public let logger: Logger
    public let renderError: ErrorRenderer
    public let accessLog: Bool

    public init(settings: Settings, defaultServiceName: String, defaultPort: Int, renderError: @escaping ErrorRenderer) async throws {
        let common = try CommonSettings(settings: settings, defaultServiceName: defaultServiceName, defaultPort: defaultPort)
        self.common = common
        self.metrics = ServiceMetrics(service: common.serviceName, limits: ResourceLimits.detect(settings: settings))
        let metrics = self.metrics
        self.readiness = Readiness { name, up in
            metrics.gauge(
                "dependency_up",
                labels: [("dependency", name)],
                help: "Whether a dependency answered the last readiness check (1) or not (0); the broker is ridden out"
            ).set(to: up ? 1.0 : 0.0)
        }
        self.tokens = TokenService(settings: common.jwt)
        var logger = Logger(label: common.serviceName)
        logger.logLevel = Logger.Level(rawValue: common.logLevel) ?? .info
        logger[metadataKey: "service.name"] = .string(common.serviceName)
        self.logger = logger
        self.renderError = renderError
        self.accessLog = try settings.bool("ACCESS_LOG", default: true)
    }

    /// A router whose every route, including unknown ones, passes through the observability middleware, and that
    /// serves `/metrics` (and `extraMetricsPaths`, e.g. `/actuator/prometheus`).
    /// - Parameter responseHeaders: headers set on every response, errors and unknown routes included.
    public func makeRouter(extraMetricsPaths: [String] = [], responseHeaders: HTTPFields = [:]) -> ServiceRouter {
        let router = ServiceRouter()
        if let seam = MiddlewareSeam.outermost, let middleware = seam(self.common.serviceName) {
            router.add(middleware: middleware)
        }
        router.add(
            middleware: ObservabilityMiddleware(
                metrics: self.metrics,
                renderError: self.renderError,
                accessLog: self.accessLog,
                responseHeaders: responseHeaders,
                routes: router.methods
            )
        )
        let metrics = self.metrics
        for path in ["/metrics"] + extraMetricsPaths {
            router.get(RouterPath(path)) { _, _ in
                Response.text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
        return router
    }

    /// The HTTP application on the configured host and port.
    /// - Parameters:
    ///   - services: long-running work (consumers, clients) that runs and stops with the server.
    ///   - onServerRunning: called with the bound port once listening.
    public func makeApplication(
        router: ServiceRouter,
        services: [any Service] = [],
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<BookstoreRequestContext>> {
        let logger = self.logger
        let name = self.common.serviceName
        let host = self.common.host
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(self.common.host, port: self.common.port), serverName: nil),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info(
                    "\(name) listening on http://\(host):\(port)",
                    metadata: ["server.address": .string(host), "server.port": .stringConvertible(port)]
                )
                await onServerRunning(port)
            },
            logger: logger
        )
    }

    /// A service to run after the application in a service group: on graceful shutdown it turns readiness 503 and
    /// waits `SHUTDOWN_DRAIN_SECONDS` before the server stops accepting connections.
    public var drainService: DrainService {
        DrainService(readiness: self.readiness, drain: .seconds(self.common.shutdownDrainSeconds), logger: self.logger)
    }
}

/// Turns readiness off at the start of a graceful shutdown and holds the shutdown for the drain period, so load
/// balancers stop sending traffic before the server closes (place it after the application in the service group).
public struct DrainService: Service {
    let readiness: Readiness
    let drain: Duration
    let logger: Logger

    public func run() async throws {
        try? await gracefulShutdown()
        self.readiness.beginDraining()
        self.logger.info("Draining: readiness reports 503", metadata: ["shutdown.drain_seconds": .stringConvertible(self.drain.components.seconds)])
        if self.drain > .zero { try? await Task.sleep(for: self.drain) }
    }
}
