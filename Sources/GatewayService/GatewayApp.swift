import BookstoreCore
import Foundation
import Hummingbird
import JSONKit
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The API gateway (SPEC §5): routes, edge checks (JWT, rate limit, body limit), request ids, replica sets with
/// health checks, passive ejection, retries and circuit breakers, and its own error envelope.
public enum GatewayApp {
    public static let serviceName = "gateway-service"
    public static let defaultPort = 8080

    /// `{status:"error", message, requestId, timestamp, error}`.
    public static let renderError: ErrorRenderer = { error, requestID in
        [
            "status": "error",
            "message": .string(error.message),
            "requestId": .string(requestID),
            "timestamp": .string(Timestamp.iso8601(Date())),
            "error": .string(error.status.reasonPhrase),
        ]
    }

    static let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options]

    /// Builds the gateway.
    ///
    /// Replica lists: `USER_SERVICE_URL`, `PAYMENT_PYTHON_SERVICE_URL`, `PAYMENT_JAVA_SERVICE_URL`, `REVIEW_SERVICE_URL`
    /// (comma-separated `http://host:port` URLs; a host name expands to one replica per IPv4 address and is resolved
    /// again every `GATEWAY_DNS_REFRESH_SECONDS`), and `UPSTREAMS_FILE` (replica lists re-read on change). The other
    /// settings are those of ``GatewayConfiguration``.
    public static func build(
        settings: Settings,
        bus: any EventBus,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService {
        let scaffold = try await ServiceScaffold(
            settings: settings,
            defaultServiceName: serviceName,
            defaultPort: defaultPort,
            renderError: renderError
        )
        let configuration = try GatewayConfiguration(settings: settings, maxBodyBytes: scaffold.common.maxBodyBytes)
        let loopThreads = settings["GATEWAY_EVENT_LOOPS"] == nil ? nil : try settings.int("GATEWAY_EVENT_LOOPS", default: 1, range: 1...1024)
        let eventLoopGroup = GatewayEventLoops.group(threads: loopThreads)

        var upstreams: [String: Upstream] = [:]
        for entry in Upstreams.settings {
            let targets = try parseTargets(settings[entry.key] == nil ? [entry.defaultURL] : settings.list(entry.key), key: entry.key)
            upstreams[entry.name] = Upstream(
                name: entry.name,
                readinessPath: entry.readinessPath,
                targets: targets,
                configuration: configuration,
                metrics: scaffold.metrics,
                logger: scaffold.logger
            )
        }
        let resolver = HostResolver()
        let pools = ConnectionPools(
            connectTimeout: TimeAmount(configuration.connectTimeout),
            maxIdlePerEndpoint: configuration.maxIdleConnectionsPerReplica
        )
        // First in, last out: the idle upstream connections close after the server has drained.
        var services: [any Service] = [ConnectionPoolsCloser(pools: pools)]
        if let file = settings["UPSTREAMS_FILE"] {
            let watcher = UpstreamsFileWatcher(path: file, upstreams: upstreams, resolver: resolver, logger: scaffold.logger)
            await watcher.reload()
            services.append(watcher)
        }
        let ordered = Upstreams.settings.compactMap { upstreams[$0.name] }
        for upstream in ordered where upstream.hasHostNames { await upstream.refresh(resolver: resolver) }
        services.append(DNSRefresher(upstreams: ordered, interval: configuration.dnsRefresh, resolver: resolver))

        services.append(
            HealthChecker(
                upstreams: ordered,
                interval: configuration.healthCheckInterval,
                timeout: configuration.healthCheckTimeout,
                pools: pools,
                eventLoopGroup: eventLoopGroup
            )
        )

        let table = RouteTable.defaults
        var routes: [ResolvedRoute] = []
        for route in table.routes {
            guard let upstream = upstreams[route.upstream] else {
                throw ConfigurationError("route \(route.prefix) names unknown upstream \(route.upstream)")
            }
            routes.append(
                ResolvedRoute(
                    route: route,
                    upstream: upstream,
                    responseTimeout: TimeAmount(route.responseTimeout ?? configuration.responseTimeout(forRoute: route.prefix))
                )
            )
        }
        let limiter =
            configuration.rateLimitPerSecond > 0
            ? RateLimiter(
                perMinute: configuration.rateLimitPerSecond * 60,
                burst: configuration.rateLimitBurst,
                capacity: configuration.rateLimitMaxClients
            ) : nil
        let proxy = GatewayProxy(
            planner: ProxyPlanner(
                routes: routes,
                tokens: scaffold.tokens,
                limiter: limiter,
                trustedProxies: configuration.trustedProxies,
                maxBodyBytes: configuration.maxBodyBytes,
                allowOrigin: configuration.corsAllowedOrigin
            ),
            pools: pools,
            settings: ExchangeSettings(
                maxAttempts: configuration.maxAttempts,
                backoff: configuration.retryBackoff,
                replayableBodyLimit: configuration.replayableBodyLimit,
                resendsEveryFailedRequest: RetrySeam.resendsEveryFailedRequest
            ),
            metrics: scaffold.metrics,
            renderError: renderError,
            accessLog: scaffold.accessLog,
            logger: scaffold.logger,
            clientIdleTimeout: TimeAmount(configuration.clientIdleTimeout),
            clientWriteTimeout: TimeAmount(configuration.clientWriteTimeout),
            clientDrainTimeout: TimeAmount(configuration.clientDrainTimeout)
        )

        let router = scaffold.makeRouter(
            extraMetricsPaths: ["/actuator/prometheus"],
            responseHeaders: [.gatewayService: "bookstore-gateway"]
        )
        let origin = configuration.corsAllowedOrigin
        router.add(
            middleware: CORSMiddleware(
                allowOrigin: origin == "*" ? CORSMiddleware<BookstoreRequestContext>.AllowOriginExtended.all : .custom(origin),
                allowHeaders: [.accept, .authorization, .contentType, .origin, .requestID, .idempotencyKey],
                allowMethods: methods
            )
        )
        router.addActuatorHealthRoutes(readiness: scaffold.readiness)
        router.get("/actuator/info") { _, _ in
            Response.json(["app": ["name": .string(serviceName), "version": .string(scaffold.common.version)]])
        }
        router.get("/actuator/upstreams") { _, _ in Response.json(upstreamsReport(ordered)) }
        let routerProxy = RouterProxy(proxy: proxy, eventLoopGroup: eventLoopGroup)
        for route in table.routes {
            for path in [route.prefix, route.prefix + "/**"] {
                for method in methods {
                    router.on(RouterPath(path), method: method) { request, context in try await routerProxy.handle(request, context: context) }
                }
            }
        }

        let logger = scaffold.logger
        let host = scaffold.common.host
        // The SocketLoop front end listens on the gateway's port; Hummingbird's server then only serves the
        // connections it hands over (its own listener is on an internal loopback port).
        var fastPath: GatewayFastPath?
        #if os(Linux)
        if try settings.bool("GATEWAY_FAST_PATH", default: true) {
            let path = try await GatewayFastPath(
                proxy: proxy,
                host: host,
                port: scaffold.common.port,
                loopCount: loopThreads ?? ProcessCPUs.available,
                nioGroup: eventLoopGroup,
                logger: logger
            )
            services.append(path)
            fastPath = path
        }
        #endif
        let publicPort = fastPath?.port
        let application = Application(
            router: router,
            server: .gateway(proxy, handOff: fastPath?.handOff),
            configuration: ApplicationConfiguration(
                address: fastPath == nil ? .hostname(host, port: scaffold.common.port) : .hostname("127.0.0.1", port: 0),
                serverName: nil
            ),
            services: services,
            onServerRunning: { channel in
                let port = publicPort ?? channel.localAddress?.port ?? 0
                logger.info(
                    "\(serviceName) listening on http://\(host):\(port)",
                    metadata: ["server.address": .string(host), "server.port": .stringConvertible(port)]
                )
                await onServerRunning(port)
            },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
        return BuiltService(application: application, scaffold: scaffold)
    }

    /// `{"users": {"circuitBreaker": "closed", "replicas": [{"address": "127.0.0.1:8081", "available": true}]}, …}`.
    static func upstreamsReport(_ upstreams: [Upstream]) -> JSON {
        var report = JSONObject()
        for upstream in upstreams {
            let state: String
            switch upstream.breaker.state {
            case .closed: state = "closed"
            case .halfOpen: state = "half-open"
            case .open: state = "open"
            }
            report[upstream.name] = [
                "circuitBreaker": .string(state),
                "replicas": .array(upstream.availability.map { ["address": .string($0.replica), "available": .bool($0.available)] }),
            ]
        }
        return .object(report)
    }
}

/// Closes the idle upstream connections when the gateway stops.
struct ConnectionPoolsCloser: Service {
    let pools: ConnectionPools

    func run() async throws {
        try? await gracefulShutdown()
        await self.pools.closeAll()
    }
}
