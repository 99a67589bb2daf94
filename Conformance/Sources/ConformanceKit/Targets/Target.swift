import Foundation

/// A system under test: where its gateway is, and which other interfaces (broker management, replica control,
/// Prometheus, Alertmanager, autoscaler) the harness can use.
///
/// A target is prepared once before the checks run (``prepare()``: spawn a process, open port-forwards, probe the
/// interfaces) and released afterwards (``release()``).
public protocol Target: AnyObject, Sendable {
    /// `embedded`, `local` or `kubernetes`.
    var name: String { get }
    /// Starts or attaches; afterwards ``endpoints`` and ``capabilities`` are final.
    func prepare() async throws
    /// Stops what ``prepare()`` started. Safe to call more than once.
    func release() async
    /// The interfaces found by ``prepare()``.
    var endpoints: TargetEndpoints { get }
}

extension Target {
    /// The capabilities the target offers (after ``prepare()``).
    public var capabilities: Set<Capability> { self.endpoints.capabilities }

    /// Why a capability is missing, for skip messages.
    public func reasonMissing(_ capability: Capability) -> String {
        self.endpoints.missingReasons[capability] ?? "the \(self.name) target does not offer it: \(capability.defaultMissingReason)"
    }
}

/// RabbitMQ management API coordinates.
public struct RabbitManagementEndpoint: Sendable {
    public var url: String
    public var user: String
    public var password: String
    public var vhost: String

    public init(url: String, user: String, password: String, vhost: String = "/") {
        self.url = url
        self.user = user
        self.password = password
        self.vhost = vhost
    }
}

/// A JWT signing secret the target's services use.
public struct SigningKey: Sendable {
    public var secret: String
    /// `HS256`, `HS384` or `HS512`; nil to copy the algorithm from a token the system issued.
    public var algorithm: String?

    public init(secret: String, algorithm: String? = nil) {
        self.secret = secret
        self.algorithm = algorithm
    }
}

/// Admin credentials for the checks that need an administrator.
public struct AdminCredentials: Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Everything the checks may use on a target, with the reason for each capability it lacks.
public struct TargetEndpoints: Sendable {
    /// The gateway's base URL (`http://127.0.0.1:8080`).
    public var baseURL: String?
    public var contracts: ContractBook?
    public var signingKey: SigningKey?
    public var admin: AdminCredentials?
    public var rabbitManagement: RabbitManagementEndpoint?
    public var replicaControl: (any ReplicaControl)?
    public var prometheusURL: String?
    public var alertmanagerURL: String?
    public var autoscaler: (any AutoscalerProbe)?
    /// The services' own base URLs by service key (`users`, `payments-python`, `payments-java`, `reviews`), for the
    /// checks that bypass the gateway.
    public var serviceURLs: [String: String]
    /// Why capabilities are missing (e.g. "the embedded system runs an in-process event bus").
    public var missingReasons: [Capability: String]

    public init(
        baseURL: String? = nil,
        contracts: ContractBook? = nil,
        signingKey: SigningKey? = nil,
        admin: AdminCredentials? = nil,
        rabbitManagement: RabbitManagementEndpoint? = nil,
        replicaControl: (any ReplicaControl)? = nil,
        prometheusURL: String? = nil,
        alertmanagerURL: String? = nil,
        autoscaler: (any AutoscalerProbe)? = nil,
        serviceURLs: [String: String] = [:],
        missingReasons: [Capability: String] = [:]
    ) {
        self.serviceURLs = serviceURLs
        self.baseURL = baseURL
        self.contracts = contracts
        self.signingKey = signingKey
        self.admin = admin
        self.rabbitManagement = rabbitManagement
        self.replicaControl = replicaControl
        self.prometheusURL = prometheusURL
        self.alertmanagerURL = alertmanagerURL
        self.autoscaler = autoscaler
        self.missingReasons = missingReasons
    }

    /// The capabilities these endpoints provide.
    public var capabilities: Set<Capability> {
        var result: Set<Capability> = []
        if self.baseURL != nil { result.insert(.http) }
        if self.contracts != nil { result.insert(.contracts) }
        if self.signingKey != nil { result.insert(.signingKey) }
        if self.rabbitManagement != nil { result.insert(.amqpManagement) }
        if self.replicaControl != nil { result.insert(.replicaControl) }
        if self.prometheusURL != nil { result.insert(.prometheus) }
        if self.alertmanagerURL != nil { result.insert(.alertmanager) }
        if self.autoscaler != nil { result.insert(.autoscaler) }
        if !self.serviceURLs.isEmpty { result.insert(.directServices) }
        return result
    }
}

/// A target built from endpoints that are already there (used by `--base-url` attachments and by tests).
public final class StaticTarget: Target {
    public let name: String
    public let endpoints: TargetEndpoints

    public init(name: String, endpoints: TargetEndpoints) {
        self.name = name
        self.endpoints = endpoints
    }

    public func prepare() async throws {}
    public func release() async {}
}

/// The target was prepared (its endpoints are set) but did not become ready within the bounded wait: the run goes
/// on, `TARGET-READY` fails with this message and every check still runs, so a broken target still gets a full report.
public struct TargetNotReady: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

/// Why a target could not be prepared.
public struct TargetError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
