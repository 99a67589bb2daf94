import ConformanceKit
import Foundation
import Hummingbird
import JSONKit
import Synchronization

/// A stand-in for the operations side of a cluster: the local cluster's control API, a gateway GET route whose
/// answer depends on the replicas, and the Prometheus and Alertmanager alert APIs. Switchable defects: a killed
/// replica that never comes back, a gateway that fails while a replica dies, alerts that never fire.
final class FakeOperations: Sendable {
    struct Defects: Sendable {
        var replicaNeverReturns = false
        /// The gateway answers 503 between a kill and the replica's return.
        var gatewayFailsDuringKill = false
        /// The gateway answers 429 (or 302 with `redirectsDuringKill`) between a kill and the replica's return.
        var gatewayThrottlesDuringKill = false
        var redirectsDuringKill = false
        /// Prometheus never reports ServiceDown / HighErrorRate.
        var alertsNeverFire = false
        /// HighErrorRate counts 5xx answers (more than 5) instead of their share of all answers (more than 10 %).
        var errorRateIsACount = false
        /// The users readiness answers 200 with the database stopped.
        var readyWithoutDatabase = false
    }

    struct Replica: Sendable {
        var id: String
        var status: String
        var pid: Int
        var restarts: Int
        var port: Int
    }

    let defects: Defects
    let returnDelay: Duration
    private let replicas: Mutex<[Replica]>
    private let gatewayRequests = Atomic<Int>(0)
    private let errorRequests = Atomic<Int>(0)
    private let healthyRequests = Atomic<Int>(0)
    private let databaseRunning = Atomic(true)

    /// Whether the fake's PostgreSQL runs (`POST /dependencies/postgres/stop|start`).
    var databaseIsRunning: Bool { self.databaseRunning.load(ordering: .relaxed) }

    init(defects: Defects = Defects(), returnDelay: Duration = .milliseconds(300)) {
        self.defects = defects
        self.returnDelay = returnDelay
        self.replicas = Mutex([
            Replica(id: "reviews-1", status: "ready", pid: 101, restarts: 0, port: 5002),
            Replica(id: "reviews-2", status: "ready", pid: 102, restarts: 0, port: 5003),
        ])
    }

    /// Requests the fake gateway route has served.
    var requestCount: Int { self.gatewayRequests.load(ordering: .relaxed) }

    var anyDown: Bool { self.replicas.withLock { $0.contains { $0.status != "ready" } } }
    var allStopped: Bool { self.replicas.withLock { $0.allSatisfy { $0.status == "stopped" } } }

    func json(_ replica: Replica) -> JSON {
        [
            "id": .string(replica.id), "service": "reviews", "serviceName": "review-service", "port": .int(replica.port),
            "url": .string("http://127.0.0.1:\(replica.port)"), "pid": replica.status == "stopped" ? nil : .int(replica.pid),
            "status": .string(replica.status), "desired": true, "restarts": .int(replica.restarts),
        ]
    }

    func update(_ id: String, _ change: (inout Replica) -> Void) -> Replica? {
        self.replicas.withLock { replicas in
            guard let index = replicas.firstIndex(where: { $0.id == id }) else { return nil }
            change(&replicas[index])
            return replicas[index]
        }
    }

    func alerts() -> [JSON] {
        guard !self.defects.alertsNeverFire else { return [] }
        var alerts: [JSON] = []
        if self.allStopped {
            alerts.append([
                "labels": ["alertname": "ServiceDown", "job": "review-service", "instance": "reviews-1", "severity": "critical"], "state": "firing",
            ])
        }
        let errors = self.errorRequests.load(ordering: .relaxed)
        let all = self.gatewayRequests.load(ordering: .relaxed) + self.healthyRequests.load(ordering: .relaxed)
        if errors > 5 && (self.defects.errorRateIsACount || errors * 10 > all) {
            alerts.append([
                "labels": ["alertname": "HighErrorRate", "job": "gateway-service", "service": "gateway-service", "severity": "warning"],
                "state": "firing",
            ])
        }
        return alerts
    }

    var router: Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // Control API
        router.get("/replicas") { _, _ in Response.json(.array(self.replicas.withLock { $0 }.map(self.json))) }
        router.post("/replicas/:id/kill") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let replica = self.update(id, { $0.status = "crashed" }) else { return Response.json(["error": "unknown"], status: .notFound) }
            if !self.defects.replicaNeverReturns {
                let delay = self.returnDelay
                Task {
                    try? await Task.sleep(for: delay)
                    _ = self.update(id) { replica in
                        replica.status = "ready"
                        replica.pid += 1000
                        replica.restarts += 1
                    }
                }
            }
            return Response.json(self.json(replica))
        }
        router.post("/replicas/:id/stop") { _, context in
            guard let replica = self.update(context.parameters.get("id") ?? "", { $0.status = "stopped" }) else {
                return Response.json(["error": "unknown"], status: .notFound)
            }
            return Response.json(self.json(replica))
        }
        router.post("/replicas/:id/start") { _, context in
            guard
                let replica = self.update(
                    context.parameters.get("id") ?? "",
                    {
                        $0.status = "ready"
                        $0.pid += 1000
                    }
                )
            else {
                return Response.json(["error": "unknown"], status: .notFound)
            }
            return Response.json(self.json(replica))
        }
        router.post("/dependencies/postgres/:action") { _, context in
            self.databaseRunning.store(context.parameters.get("action") == "start", ordering: .relaxed)
            return Response.json(["name": "postgres", "state": self.databaseIsRunning ? "running" : "stopped"])
        }
        router.get("/api/users/health/ready") { _, _ in
            self.databaseIsRunning || self.defects.readyWithoutDatabase
                ? Response.json(["status": "READY", "checks": ["database": "UP"]])
                : Response.json(["status": "NOT_READY", "checks": ["database": "DOWN"]], status: .serviceUnavailable)
        }
        // Gateway and replicas' own metrics
        router.get("/api/reviews/book/:book") { _, _ in
            self.gatewayRequests.add(1, ordering: .relaxed)
            if self.allStopped {
                self.errorRequests.add(1, ordering: .relaxed)
                return Response.json(
                    ["status": "error", "message": "No replica", "requestId": "x", "timestamp": .string(FakeBookstore.timestamp())],
                    status: .serviceUnavailable
                )
            }
            if self.defects.gatewayThrottlesDuringKill && self.anyDown {
                return Response.json(["status": "error", "message": "Too many requests"], status: .tooManyRequests)
            }
            if self.defects.redirectsDuringKill && self.anyDown {
                return Response(status: .found, headers: [.location: "/elsewhere"])
            }
            if self.defects.gatewayFailsDuringKill && self.anyDown {
                return Response.json(
                    ["status": "error", "message": "Upstream failed", "requestId": "x", "timestamp": .string(FakeBookstore.timestamp())],
                    status: .badGateway
                )
            }
            return Response.json(["book_id": "x", "reviews": [], "page": 1, "limit": 5, "count": 0, "total": 0])
        }
        // Prometheus
        router.get("/api/v1/status/buildinfo") { _, _ in Response.json(["status": "success", "data": ["version": "fake"]]) }
        router.get("/api/v1/status/config") { _, _ in
            Response.json(["status": "success", "data": ["yaml": "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs: []\n"]])
        }
        router.get("/api/v1/rules") { _, _ in
            Response.json([
                "status": "success",
                "data": [
                    "groups": [
                        [
                            "name": "bookstore.rules",
                            "rules": [
                                ["name": "ServiceDown", "type": "alerting", "duration": 1],
                                ["name": "HighErrorRate", "type": "alerting", "duration": 1],
                            ],
                        ]
                    ]
                ],
            ])
        }
        router.get("/api/users/health") { _, _ in
            self.healthyRequests.add(1, ordering: .relaxed)
            return Response.json(["status": "UP"])
        }
        router.get("/api/v1/query") { request, _ in
            // The 5xx counted so far for a query over 5xx answers; nothing for any other.
            let query = request.uri.queryParameters.get("query") ?? ""
            guard query.contains("5..") else { return Response.json(["status": "success", "data": ["resultType": "vector", "result": []]]) }
            let errors = JSON.string(String(self.errorRequests.load(ordering: .relaxed)))
            let metric: JSON = ["job": "gateway-service", "service": "gateway-service"]
            return Response.json(["status": "success", "data": ["resultType": "vector", "result": [["metric": metric, "value": [1, errors]]]]])
        }
        router.get("/api/v1/alerts") { _, _ in Response.json(["status": "success", "data": ["alerts": .array(self.alerts())]]) }
        // Alertmanager
        router.get("/api/v2/status") { _, _ in Response.json(["config": ["original": "route:\n  group_wait: 1s\n"]]) }
        router.get("/api/v2/alerts") { _, _ in
            Response.json(
                .array(self.alerts().map { ["labels": $0["labels"] ?? [:], "status": ["state": "active"], "endsAt": "2999-01-01T00:00:00Z"] })
            )
        }
        return router
    }
}
