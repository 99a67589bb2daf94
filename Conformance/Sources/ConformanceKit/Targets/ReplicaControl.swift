/// One replica of a service, as the replica controller reports it.
public struct ReplicaInfo: Sendable, Equatable {
    /// `reviews-1`, or a pod name.
    public var id: String
    /// The service key (`reviews`, `users`, `payments-python`, `payments-java`, `gateway`).
    public var service: String
    /// The Prometheus job / Kubernetes name (`review-service`), when known.
    public var serviceName: String?
    /// `ready`, `starting`, `unready`, `crashed`, `stopped` (local cluster) or a pod phase mapped onto them.
    public var status: String
    /// Where the replica itself answers, when reachable from here.
    public var url: String?
    public var pid: Int?
    public var restarts: Int?

    public init(
        id: String,
        service: String,
        serviceName: String? = nil,
        status: String,
        url: String? = nil,
        pid: Int? = nil,
        restarts: Int? = nil
    ) {
        self.id = id
        self.service = service
        self.serviceName = serviceName
        self.status = status
        self.url = url
        self.pid = pid
        self.restarts = restarts
    }

    public var isReady: Bool { self.status == "ready" }
}

/// Lists, kills, stops and starts replicas (the local cluster's control API, or kubectl).
public protocol ReplicaControl: Sendable {
    /// Every replica.
    func replicas() async throws -> [ReplicaInfo]
    /// Kills a replica abruptly (SIGKILL, or a forced pod deletion); it is expected to come back by itself.
    func kill(_ id: String) async throws
    /// Stops a replica gracefully (SIGTERM); it stays down until ``start(_:)``.
    func stop(_ id: String) async throws
    /// Starts a stopped replica.
    func start(_ id: String) async throws
    /// Stops every replica of a service; returns a token for ``restoreService(_:token:)``.
    func stopService(_ service: String) async throws -> [String]
    /// Undoes ``stopService(_:)``.
    func restoreService(_ service: String, token: [String]) async throws
    /// Freezes a replica (SIGSTOP): it keeps its connections, and what it received, but answers nothing until
    /// ``resume(_:)``. Throws ``CheckSkip`` where the target cannot do that.
    func pause(_ id: String) async throws
    /// Lets a paused replica go on (SIGCONT).
    func resume(_ id: String) async throws
    /// Stops (`running` false) or starts a dependency of the services: `postgres`, `mongo` or `rabbitmq`; returns once
    /// it is down, or up and ready. Throws ``CheckSkip`` where the target cannot do that.
    func setDependency(_ name: String, running: Bool) async throws
}

extension ReplicaControl {
    public func setDependency(_ name: String, running: Bool) async throws {
        throw CheckSkip("this target cannot stop and start its dependencies (the local cluster's control API can)")
    }

    public func pause(_ id: String) async throws {
        throw CheckSkip("this target cannot freeze a replica (the local cluster's control API can: POST /replicas/{id}/pause)")
    }

    public func resume(_ id: String) async throws {}
}

extension ReplicaControl {
    public func replicas(of service: String) async throws -> [ReplicaInfo] {
        try await self.replicas().filter { $0.service == service }
    }

    public func stopService(_ service: String) async throws -> [String] {
        let ids = try await self.replicas(of: service).map(\.id)
        for id in ids { try await self.stop(id) }
        return ids
    }

    public func restoreService(_ service: String, token: [String]) async throws {
        for id in token { try await self.start(id) }
    }
}

/// Reads a horizontal autoscaler's state for a service.
public protocol AutoscalerProbe: Sendable {
    /// The autoscaler of a service: bounds, target, behaviour and current/desired replicas.
    func autoscaler(for service: String) async throws -> AutoscalerState
}

/// The part of an autoscaling/v2 HorizontalPodAutoscaler the checks use.
public struct AutoscalerState: Sendable, Equatable {
    public var name: String
    public var minReplicas: Int
    public var maxReplicas: Int
    public var currentReplicas: Int
    public var desiredReplicas: Int
    /// CPU target utilisation in percent, if the HPA scales on CPU.
    public var cpuTargetUtilization: Int?
    /// Scale-up stabilization window and the shortest scale-up policy period, in seconds.
    public var scaleUpStabilizationSeconds: Int
    public var scaleUpPeriodSeconds: Int
    /// Scale-down stabilization window and the shortest scale-down policy period, in seconds.
    public var scaleDownStabilizationSeconds: Int
    public var scaleDownPeriodSeconds: Int
    /// `behavior.scaleDown.selectPolicy: Disabled`: the autoscaler never lowers the replica count.
    public var scaleDownDisabled: Bool

    public init(
        name: String,
        minReplicas: Int,
        maxReplicas: Int,
        currentReplicas: Int,
        desiredReplicas: Int,
        cpuTargetUtilization: Int? = nil,
        scaleUpStabilizationSeconds: Int = 0,
        scaleUpPeriodSeconds: Int = 15,
        scaleDownStabilizationSeconds: Int = 300,
        scaleDownPeriodSeconds: Int = 15,
        scaleDownDisabled: Bool = false
    ) {
        self.name = name
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.currentReplicas = currentReplicas
        self.desiredReplicas = desiredReplicas
        self.cpuTargetUtilization = cpuTargetUtilization
        self.scaleUpStabilizationSeconds = scaleUpStabilizationSeconds
        self.scaleUpPeriodSeconds = scaleUpPeriodSeconds
        self.scaleDownStabilizationSeconds = scaleDownStabilizationSeconds
        self.scaleDownDisabled = scaleDownDisabled
        self.scaleDownPeriodSeconds = scaleDownPeriodSeconds
    }
}
