import BookstoreCore
import Hummingbird

/// One planted defect: what it breaks, where (a service's HTTP seam), and the conformance checks that must fail
/// when it is present. `ci/mutation-score` counts a fault as caught only when one of `checks` fails.
public struct Fault: Sendable {
    /// A stable name, e.g. `reviews-rating-as-string`.
    public let name: String
    /// The `SERVICE_NAME` of the service it is planted in (`review-service`, …).
    public let service: String
    /// The check IDs of which at least one must fail.
    public let checks: [String]
    public let summary: String
    /// Where it can be planted: `embedded` (an HTTP seam of `bookstore-faults up`) or `cluster` (the messaging seam of
    /// `bookstore-faults serve`, the replicas of the local cluster on the real broker).
    public var stage: String { self.handle == nil || self.needsCluster ? "cluster" : "embedded" }
    /// An HTTP-seam defect that only the cluster stage can show (it needs the real database stopped).
    private(set) var needsCluster: Bool
    let handle: (@Sendable (Request, BookstoreRequestContext, FaultContext, Next) async throws -> Response)?
    let bus: (@Sendable (any EventBus) -> any EventBus)?
    /// Settings a defective deployment of the service runs with (cluster stage): e.g. a gateway without ejection.
    public let settings: [String: String]
    /// A replica that, once killed, never comes back: every start after its first exits at once (cluster stage).
    public let startsOnce: Bool
    /// A gateway that re-sends every failed request, keyless POSTs after a timeout included (``RetrySeam``).
    public private(set) var resendsEveryFailedRequest = false
    /// Alerting rules with another expression (alert name → PromQL), loaded into the local cluster's Prometheus in
    /// place of the real ones (cluster stage; `bookstore-faults rules`).
    public let alertRules: [String: String]
    /// Kubernetes manifests with a defect (file name in `k8s/` → rewrite of its text), which the local cluster's
    /// autoscaler follows (cluster stage; `bookstore-faults manifests`).
    public let manifests: [String: @Sendable (String) -> String]

    public typealias Next = (Request, BookstoreRequestContext) async throws -> Response

    /// A defect at the service's HTTP seam.
    public init(
        _ name: String,
        service: String,
        checks: [String],
        _ summary: String,
        cluster: Bool = false,
        handle: @escaping @Sendable (Request, BookstoreRequestContext, FaultContext, Next) async throws -> Response
    ) {
        self.init(name, service, checks, summary, handle: handle, bus: nil, settings: [:], startsOnce: false, alertRules: [:], manifests: [:])
        self.needsCluster = cluster
    }

    /// A defect at the service's messaging seam: `bus` wraps the bus the service publishes and consumes through.
    public init(_ name: String, service: String, checks: [String], _ summary: String, bus: @escaping @Sendable (any EventBus) -> any EventBus) {
        self.init(name, service, checks, summary, handle: nil, bus: bus, settings: [:], startsOnce: false, alertRules: [:], manifests: [:])
    }

    /// A defect of how the service is deployed and run (cluster stage): the settings it runs with, or a replica that
    /// starts only once.
    public init(_ name: String, service: String, checks: [String], _ summary: String, settings: [String: String] = [:], startsOnce: Bool = false) {
        self.init(name, service, checks, summary, handle: nil, bus: nil, settings: settings, startsOnce: startsOnce, alertRules: [:], manifests: [:])
    }

    /// A gateway whose retry rule re-sends every failed request (cluster stage; ``RetrySeam``).
    public init(_ name: String, service: String, checks: [String], _ summary: String, resendsEveryFailedRequest: Bool) {
        self.init(name, service, checks, summary, handle: nil, bus: nil, settings: [:], startsOnce: false, alertRules: [:], manifests: [:])
        self.resendsEveryFailedRequest = resendsEveryFailedRequest
    }

    /// A defect of the Kubernetes manifests the local cluster's autoscaler follows (cluster stage).
    public init(_ name: String, service: String, checks: [String], _ summary: String, manifests: [String: @Sendable (String) -> String]) {
        self.init(name, service, checks, summary, handle: nil, bus: nil, settings: [:], startsOnce: false, alertRules: [:], manifests: manifests)
    }

    /// A defect of the alerting rules (cluster stage): `alertRules` replace the expressions of those alerts.
    public init(_ name: String, checks: [String], _ summary: String, alertRules: [String: String]) {
        self.init(
            name,
            "prometheus-rules",
            checks,
            summary,
            handle: nil,
            bus: nil,
            settings: [:],
            startsOnce: false,
            alertRules: alertRules,
            manifests: [:]
        )
    }

    private init(
        _ name: String,
        _ service: String,
        _ checks: [String],
        _ summary: String,
        handle: (@Sendable (Request, BookstoreRequestContext, FaultContext, Next) async throws -> Response)?,
        bus: (@Sendable (any EventBus) -> any EventBus)?,
        settings: [String: String],
        startsOnce: Bool,
        alertRules: [String: String],
        manifests: [String: @Sendable (String) -> String]
    ) {
        self.name = name
        self.service = service
        self.checks = checks
        self.summary = summary
        self.handle = handle
        self.bus = bus
        self.settings = settings
        self.startsOnce = startsOnce
        self.alertRules = alertRules
        self.manifests = manifests
        self.needsCluster = false
    }

    /// The seam provider that plants this fault in its service and leaves every other service alone (nil for a
    /// messaging fault).
    public func provider(tokens: TokenService) -> MiddlewareSeam.Provider? {
        guard let handle = self.handle else { return nil }
        let fault = self
        return { serviceName in
            serviceName == fault.service ? FaultMiddleware(handle: handle, context: FaultContext(tokens: tokens)) : nil
        }
    }

    /// The messaging seam provider that plants this fault in its service's bus (nil for an HTTP fault).
    public var busProvider: EventBusSeam.Provider? {
        guard let wrap = self.bus else { return nil }
        let service = self.service
        return { serviceName, bus in serviceName == service ? wrap(bus) : bus }
    }
}

/// What a fault may use besides the request: the system's token service (to mint tokens a defective service would
/// accept).
public struct FaultContext: Sendable {
    public let tokens: TokenService
}

/// The middleware a fault runs as, outside the service's own stack.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = BookstoreRequestContext
    let handle: @Sendable (Request, BookstoreRequestContext, FaultContext, Fault.Next) async throws -> Response
    let context: FaultContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await self.handle(request, context, self.context, next)
    }
}
