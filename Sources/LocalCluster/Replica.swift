import BookstoreRuntime
import Foundation
import JSONKit

/// The state of one replica process of the local cluster.
public struct Replica: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Launched, not yet ready.
        case starting
        /// Its readiness endpoint answers 200.
        case ready
        /// Running, but its readiness endpoint does not answer 200.
        case unready
        /// Exited unexpectedly; the supervisor will start it again.
        case crashed
        /// Stopped on request; stays stopped until started.
        case stopped
    }

    public let id: String
    public let kind: ServiceKind
    public let port: Int
    public var pid: Int32?
    public var status: Status
    /// Whether the supervisor keeps it running (false after `stop`).
    public var desired: Bool
    public var restarts: Int
    /// Stopped with SIGSTOP (``Supervisor/pause(_:)``): it holds its sockets and answers nothing until resumed.
    public var paused = false
    public var lastExitStatus: Int32?
    public var generation: Int
    var startedAt: ContinuousClock.Instant?
    var restartAt: ContinuousClock.Instant?

    init(id: String, kind: ServiceKind, port: Int) {
        self.id = id
        self.kind = kind
        self.port = port
        self.status = .stopped
        self.desired = true
        self.restarts = 0
        self.generation = 0
    }

    public var url: String { "http://127.0.0.1:\(self.port)" }

    /// The Kubernetes-style service name used as `SERVICE_NAME`, Prometheus job and log `service.name`.
    public var serviceName: String { self.kind.clusterServiceName }

    public var json: JSON {
        [
            "id": .string(self.id), "service": .string(self.kind.rawValue), "serviceName": .string(self.serviceName),
            "port": .int(self.port), "url": .string(self.url), "pid": self.pid.map { .int($0) } ?? .null,
            "status": .string(self.status.rawValue), "desired": .bool(self.desired), "restarts": .int(self.restarts),
            "paused": .bool(self.paused),
            "lastExitStatus": self.lastExitStatus.map { .int($0) } ?? .null,
        ]
    }
}

extension ServiceKind {
    /// The name the service has in Kubernetes and in the local cluster.
    public var clusterServiceName: String {
        switch self {
        case .gateway: "gateway-service"
        case .users: "user-service"
        case .paymentsPython: "payment-service-python"
        case .paymentsJava: "payment-service-java"
        case .reviews: "review-service"
        }
    }

    /// Where the service answers readiness.
    public var readinessPath: String {
        switch self {
        case .gateway, .paymentsJava: "/actuator/health/readiness"
        case .users, .paymentsPython, .reviews: "/api/health/ready"
        }
    }

    /// Where Prometheus scrapes it.
    public var metricsPath: String {
        switch self {
        case .gateway, .paymentsJava: "/actuator/prometheus"
        case .users, .paymentsPython, .reviews: "/metrics"
        }
    }

    /// The adapter settings each service uses on real infrastructure.
    public var clusterStorage: [String: String] {
        switch self {
        case .gateway: [:]
        case .users, .paymentsJava: ["STORAGE": "postgres", "EVENT_BUS": "rabbitmq"]
        case .paymentsPython, .reviews: ["STORAGE": "mongodb", "EVENT_BUS": "rabbitmq"]
        }
    }
}
