/// Something a check needs from the target (or from the harness's configuration for that target).
public enum Capability: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// The gateway answers HTTP.
    case http
    /// The committed OpenAPI documents are loaded.
    case contracts
    /// The JWT signing secret is known (`--jwt-secret`), so valid-but-expired tokens can be minted.
    case signingKey = "signing-key"
    /// The RabbitMQ management HTTP API is reachable with credentials.
    case amqpManagement = "amqp-management"
    /// Replicas can be listed, killed, stopped and started (control API or kubectl).
    case replicaControl = "replica-control"
    /// The Prometheus HTTP API.
    case prometheus
    /// The Alertmanager HTTP API.
    case alertmanager
    /// Horizontal autoscaling that can be observed (a real HPA, or a stand-in following its algorithm).
    case autoscaler
    /// The services' own base URLs are known, so checks can call them without the gateway (SPEC §3: every service
    /// verifies tokens itself).
    case directServices = "direct-services"

    public var description: String { self.rawValue }

    /// Why a target usually lacks the capability, when it gives no reason of its own.
    public var defaultMissingReason: String {
        switch self {
        case .http: "no gateway base URL"
        case .contracts: "the OpenAPI documents were not found (pass --contracts-dir)"
        case .signingKey: "the JWT secret is unknown (pass --jwt-secret)"
        case .amqpManagement: "no RabbitMQ management API (pass --rabbitmq-management-url)"
        case .replicaControl: "no replica control (pass --control-url, or use --target kubernetes)"
        case .prometheus: "no Prometheus (pass --prometheus-url)"
        case .alertmanager: "no Alertmanager (pass --alertmanager-url)"
        case .autoscaler: "no autoscaler to observe (use --target local or kubernetes)"
        case .directServices: "the services' own URLs are unknown (pass --service-url users=URL, one per service)"
        }
    }

    public static func < (lhs: Capability, rhs: Capability) -> Bool {
        (Self.allCases.firstIndex(of: lhs) ?? 0) < (Self.allCases.firstIndex(of: rhs) ?? 0)
    }
}

/// The suites of the catalogue (SPEC §9), in the order a run executes them.
public enum Suite: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// The one check the runner adds itself: `TARGET-READY`, whether the target answered before the checks ran.
    case target
    case contracts
    case security
    case async
    case failover
    case alerts
    case autoscaling

    public var description: String { self.rawValue }

    public static func < (lhs: Suite, rhs: Suite) -> Bool {
        (Self.allCases.firstIndex(of: lhs) ?? 0) < (Self.allCases.firstIndex(of: rhs) ?? 0)
    }
}
