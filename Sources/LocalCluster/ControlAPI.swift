import BookstoreCore
import BookstoreRuntime
import Hummingbird
import JSONKit
import Logging
import ServiceLifecycle

/// The local cluster as one service: the supervisor and its control API on 127.0.0.1.
///
/// Control API (JSON): `GET /replicas`, `GET /replicas/{id}`, `POST /replicas/{id}/kill` (SIGKILL; restarted),
/// `POST /replicas/{id}/stop` (SIGTERM; stays down), `POST /replicas/{id}/start`, `POST /replicas/{id}/pause` (SIGSTOP:
/// it holds its connections and answers nothing) and `…/resume` (SIGCONT),
/// `POST /services/{service}/scale?replicas=N`, `GET /health`, and, with autoscaling, `GET /autoscalers` (like
/// `kubectl get hpa -o json`) and `GET /autoscalers/{service}`; with a dependency command,
/// `POST /dependencies/{postgres|mongo|rabbitmq}/stop` and `…/start` (they return once the command has finished).
public struct LocalClusterService: Service {
    public let supervisor: Supervisor
    public let autoscaler: LocalAutoscaler?
    let logger: Logger
    let onReady: @Sendable (Int) async -> Void

    public init(configuration: ClusterConfiguration, logger: Logger, onReady: @escaping @Sendable (Int) async -> Void = { _ in }) {
        let supervisor = Supervisor(configuration: configuration, logger: logger)
        self.supervisor = supervisor
        self.autoscaler = configuration.autoscaling.map { LocalAutoscaler(configuration: $0, cluster: supervisor, logger: logger) }
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        try await self.supervisor.startAll()
        let application = Application(
            router: Self.router(supervisor: self.supervisor, autoscaler: self.autoscaler, dependencies: self.supervisor.configuration.dependencies),
            configuration: .init(address: .hostname("127.0.0.1", port: self.supervisor.configuration.controlPort)),
            onServerRunning: { channel in await self.onReady(channel.localAddress?.port ?? 0) },
            logger: self.logger
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.supervisor.supervise() }
            if let autoscaler = self.autoscaler { group.addTask { await autoscaler.run() } }
            group.addTask { try? await application.run() }
            try? await gracefulShutdown()
            await self.supervisor.stopAll()
            group.cancelAll()
        }
    }

    static func router(supervisor: Supervisor, autoscaler: LocalAutoscaler?, dependencies: DependencyControl? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { _, _ in Response.json(["status": "UP"]) }
        router.get("/replicas") { _, _ in Response.json(.array(await supervisor.allReplicas.map(\.json))) }
        router.get("/replicas/:id") { _, context in
            try await Self.answer { try await Self.replica(supervisor, context) }
        }
        router.post("/replicas/:id/kill") { _, context in
            try await Self.answer { try await supervisor.kill(try Self.id(context)).json }
        }
        router.post("/replicas/:id/stop") { _, context in
            try await Self.answer { try await supervisor.stop(try Self.id(context)).json }
        }
        router.post("/replicas/:id/pause") { _, context in
            try await Self.answer { try await supervisor.pause(try Self.id(context)).json }
        }
        router.post("/replicas/:id/resume") { _, context in
            try await Self.answer { try await supervisor.resume(try Self.id(context)).json }
        }
        router.post("/replicas/:id/start") { _, context in
            try await Self.answer { try await supervisor.start(try Self.id(context)).json }
        }
        router.post("/services/:service/scale") { request, context in
            guard let name = context.parameters.get("service"), let kind = ServiceKind(rawValue: name) else {
                return Response.json(["error": "unknown service"], status: .notFound)
            }
            guard let raw = request.uri.queryParameters["replicas"], let count = Int(raw) else {
                return Response.json(["error": "replicas=N is required"], status: .badRequest)
            }
            return try await Self.answer { .array(try await supervisor.scale(kind, to: count).map(\.json)) }
        }
        router.get("/autoscalers") { _, _ in
            guard let autoscaler else { return Response.json(["apiVersion": "v1", "kind": "List", "items": []]) }
            return Response.json(await autoscaler.list())
        }
        router.get("/autoscalers/:service") { _, context in
            let service = context.parameters.get("service") ?? ""
            guard let object = await autoscaler?.object(for: service) else {
                return Response.json(["error": .string("no autoscaler for \(service)")], status: .notFound)
            }
            return Response.json(object)
        }
        router.post("/dependencies/:name/:action") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard DependencyControl.names.contains(name) else {
                return Response.json(["error": .string("unknown dependency \(name): expected postgres, mongo or rabbitmq")], status: .notFound)
            }
            guard let action = DependencyControl.Action(rawValue: context.parameters.get("action") ?? "") else {
                return Response.json(["error": "expected /dependencies/{name}/stop or /start"], status: .notFound)
            }
            guard let dependencies else {
                return Response.json(["error": "no dependency command (CLUSTER_DEPENDENCY_COMMAND)"], status: .notImplemented)
            }
            do {
                try await dependencies.run(action, name)
                return Response.json(["name": .string(name), "state": .string(action == .stop ? "stopped" : "running")])
            } catch {
                return Response.json(["error": .string("\(error)")], status: .badGateway)
            }
        }
        return router
    }

    static func id(_ context: BasicRequestContext) throws -> String {
        guard let id = context.parameters.get("id") else { throw Supervisor.ControlError.unknownReplica("") }
        return id
    }

    static func replica(_ supervisor: Supervisor, _ context: BasicRequestContext) async throws -> JSON {
        let id = try self.id(context)
        guard let replica = await supervisor.replica(id) else { throw Supervisor.ControlError.unknownReplica(id) }
        return replica.json
    }

    static func answer(_ body: () async throws -> JSON) async throws -> Response {
        do {
            return Response.json(try await body())
        } catch Supervisor.ControlError.unknownReplica(let id) {
            return Response.json(["error": .string("unknown replica \(id)")], status: .notFound)
        } catch Supervisor.ControlError.notRunning(let id) {
            return Response.json(["error": .string("replica \(id) is not running")], status: .conflict)
        } catch Supervisor.ControlError.invalidReplicaCount(let count) {
            return Response.json(["error": .string("invalid replica count \(count): expected 0...20")], status: .badRequest)
        }
    }
}
