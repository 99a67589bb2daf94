import AsyncHTTPClient
import BookstoreCore
import Foundation
import Hummingbird
import JSONKit
import Logging
import NIOCore
import ServiceLifecycle

/// The API gateway (SPEC §5): routes, edge JWT checks, request ids and its own error envelope.
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

    /// Builds the gateway. Settings: `USER_SERVICE_URL`, `PAYMENT_PYTHON_SERVICE_URL`, `PAYMENT_JAVA_SERVICE_URL`,
    /// `REVIEW_SERVICE_URL` (comma-separated replica URLs), `GATEWAY_CONNECT_TIMEOUT_MS` (3000),
    /// `GATEWAY_READ_TIMEOUT_MS` (10000), `CORS_ALLOWED_ORIGIN` (`*`), `UPSTREAMS_FILE` (replica lists re-read on change).
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
        var upstreams: [String: Upstream] = [:]
        for entry in Upstreams.settings {
            let replicas = try parseReplicas(settings[entry.key] == nil ? [entry.defaultURL] : settings.list(entry.key), key: entry.key)
            upstreams[entry.name] = Upstream(name: entry.name, replicas: replicas, readinessPath: entry.readinessPath)
        }
        let connectTimeout = try settings.int("GATEWAY_CONNECT_TIMEOUT_MS", default: 3000, range: 1...600_000)
        let readTimeout = try settings.int("GATEWAY_READ_TIMEOUT_MS", default: 10_000, range: 1...600_000)
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(Int64(connectTimeout)), read: .milliseconds(Int64(readTimeout)))
        )
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

        let router = scaffold.makeRouter(extraMetricsPaths: ["/actuator/prometheus"])
        let origin = settings.string("CORS_ALLOWED_ORIGIN", default: "*")
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
        let proxy = ProxyHandler(
            table: .defaults,
            upstreams: upstreams,
            client: client,
            tokens: scaffold.tokens,
            readTimeout: .milliseconds(Int64(readTimeout))
        )
        for route in RouteTable.defaults.routes {
            for path in [route.prefix, route.prefix + "/**"] {
                for method in methods {
                    router.on(RouterPath(path), method: method) { request, context in try await proxy.handle(request, context: context) }
                }
            }
        }
        var services: [any Service] = [HTTPClientService(client: client)]
        if let file = settings["UPSTREAMS_FILE"] {
            let watcher = UpstreamsFileWatcher(path: file, upstreams: upstreams, logger: scaffold.logger)
            watcher.reload()
            services.append(watcher)
        }
        let application = scaffold.makeApplication(
            router: router,
            services: services,
            onServerRunning: onServerRunning
        )
        return BuiltService(application: application, scaffold: scaffold)
    }
}

/// Owns the HTTP client's lifecycle: shuts it down when the application stops.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}
