/// The part of an `autoscaling/v2` HorizontalPodAutoscaler that the local stand-in follows: bounds, resource
/// utilisation targets and scaling behaviour, with the Kubernetes defaults filled in for what the manifest leaves out.
public struct HorizontalPodAutoscalerSpec: Sendable, Equatable {
    public struct ResourceTarget: Sendable, Equatable {
        /// `cpu` or `memory`.
        public var resource: String
        /// Target average utilisation, in percent of the containers' requests.
        public var averageUtilization: Int

        public init(resource: String, averageUtilization: Int) {
            self.resource = resource
            self.averageUtilization = averageUtilization
        }
    }

    public struct Policy: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case pods = "Pods"
            case percent = "Percent"
        }

        public var kind: Kind
        public var value: Int
        public var periodSeconds: Int

        public init(_ kind: Kind, value: Int, periodSeconds: Int) {
            self.kind = kind
            self.value = value
            self.periodSeconds = periodSeconds
        }
    }

    public enum SelectPolicy: String, Sendable {
        case max = "Max"
        case min = "Min"
        case disabled = "Disabled"
    }

    /// One direction of `spec.behavior`.
    public struct Rules: Sendable, Equatable {
        public var stabilizationWindowSeconds: Int
        public var selectPolicy: SelectPolicy
        public var policies: [Policy]

        public init(stabilizationWindowSeconds: Int, selectPolicy: SelectPolicy = .max, policies: [Policy]) {
            self.stabilizationWindowSeconds = stabilizationWindowSeconds
            self.selectPolicy = selectPolicy
            self.policies = policies
        }

        /// Kubernetes' default scale-up behaviour: no stabilization, at most 4 pods or 100 % per 15 s, whichever is more.
        public static let defaultScaleUp = Rules(
            stabilizationWindowSeconds: 0,
            selectPolicy: .max,
            policies: [Policy(.pods, value: 4, periodSeconds: 15), Policy(.percent, value: 100, periodSeconds: 15)]
        )

        /// Kubernetes' default scale-down behaviour: a 300 s stabilization window, then up to 100 % per 15 s.
        public static let defaultScaleDown = Rules(
            stabilizationWindowSeconds: 300,
            selectPolicy: .max,
            policies: [Policy(.percent, value: 100, periodSeconds: 15)]
        )

        /// The longest policy period: how long scale events are remembered.
        var longestPeriodSeconds: Int { self.policies.map(\.periodSeconds).max() ?? 0 }
    }

    public var name: String
    /// `spec.scaleTargetRef.name`: the Deployment (the local cluster's service name).
    public var targetName: String
    public var minReplicas: Int
    public var maxReplicas: Int
    public var metrics: [ResourceTarget]
    public var scaleUp: Rules
    public var scaleDown: Rules

    public init(
        name: String,
        targetName: String,
        minReplicas: Int = 1,
        maxReplicas: Int,
        metrics: [ResourceTarget],
        scaleUp: Rules = .defaultScaleUp,
        scaleDown: Rules = .defaultScaleDown
    ) {
        self.name = name
        self.targetName = targetName
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.metrics = metrics
        self.scaleUp = scaleUp
        self.scaleDown = scaleDown
    }
}

/// What a container asks for (`resources.requests`): the denominators of utilisation.
public struct ResourceRequests: Sendable, Equatable {
    /// CPU in cores (`250m` → 0.25).
    public var cpuCores: Double?
    /// Memory in bytes (`256Mi` → 268435456).
    public var memoryBytes: Double?

    public init(cpuCores: Double? = nil, memoryBytes: Double? = nil) {
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
    }

    /// The request for a resource name (`cpu`, `memory`).
    public func amount(of resource: String) -> Double? {
        switch resource {
        case "cpu": self.cpuCores
        case "memory": self.memoryBytes
        default: nil
        }
    }
}
