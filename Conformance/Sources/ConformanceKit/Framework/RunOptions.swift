import Foundation

/// Tunables of a run: which services the disruptive suites use, rates, durations and budgets. The defaults suit
/// the local cluster; tests shrink them.
public struct RunOptions: Sendable {
    /// A short random id that makes every name this run creates unique (users, orders, queues).
    public var runID: String
    /// Attempts to get a payment of a wanted outcome (completed or declined) from the simulated processor. Only
    /// 200/201/402 answers are retried (anything else blocks at once); 60 keeps a false "blocked" for a decline under
    /// the default 85 % success rate below 1 in 10 000 runs (0.85^60 ≈ 6e-5).
    public var paymentAttempts: Int

    /// The most failed logins from one client the target may answer 401 before a 429 (`API-USERS-LOGIN-429`): its
    /// login limit's burst over all replicas plus what refills while the check sends them. A fixed count, so that the
    /// verdict depends on the target's limit and not on how fast this machine sends.
    public var loginAttempts = 1_000

    // async
    /// Requests sent by the no-loss check.
    public var asyncMessages: Int
    /// How long to wait for an event or reply.
    public var asyncTimeout: Duration

    // failover
    /// The service whose replica is killed (a key of the control API: reviews, users, payments-python, …).
    public var failoverService: String
    /// The gateway path loaded during failover (a GET that the service answers 200).
    public var failoverPath: String?
    public var failoverRate: Double
    public var failoverDuration: Duration
    /// When, after the load starts, the replica is killed.
    public var failoverKillAfter: Duration
    /// Failed GETs allowed while a replica dies.
    public var failoverErrorBudget: Int
    /// How long a killed replica may take to be ready again.
    public var replicaReturnBudget: Duration

    // alerts
    /// The service stopped to make `ServiceDown` fire.
    public var alertService: String
    /// Added to every budget derived from the Prometheus configuration.
    public var alertSlack: Duration
    /// Requests per second sent to the stopped service's route while waiting for `HighErrorRate`.
    public var alertErrorRate: Double
    /// Critical alerts tolerated during a run (beyond the ones the run provokes), by name.
    public var allowedCriticalAlerts: Set<String>

    // autoscaling
    /// The service whose autoscaler is watched.
    public var autoscalingService: String
    /// The gateway path loaded to drive the autoscaler.
    public var autoscalingPath: String?
    /// Requests per second of the scale-up load at its start.
    public var autoscalingRate: Double
    /// The most requests per second the scale-up load ramps up to while desired replicas stay (`nil`: 4 × the start).
    public var autoscalingMaxRate: Double?
    /// Added to the budgets derived from the HPA spec.
    public var autoscalingSlack: Duration
    /// The HPA controller's sync period (Kubernetes default 15 s).
    public var autoscalingSyncPeriod: Duration
    /// How long resource metrics take to show a load (metrics-server's resolution and window, ~60 s).
    public var autoscalingMetricsLag: Duration
    /// How often the autoscaler's state is read.
    public var pollInterval: Duration

    public init(
        runID: String = RunOptions.makeRunID(),
        paymentAttempts: Int = 60,
        asyncMessages: Int = 50,
        asyncTimeout: Duration = .seconds(20),
        failoverService: String = "reviews",
        failoverPath: String? = nil,
        failoverRate: Double = 50,
        failoverDuration: Duration = .seconds(15),
        failoverKillAfter: Duration = .seconds(4),
        failoverErrorBudget: Int = 0,
        replicaReturnBudget: Duration = .seconds(60),
        alertService: String = "reviews",
        alertSlack: Duration = .seconds(20),
        alertErrorRate: Double = 20,
        allowedCriticalAlerts: Set<String> = [],
        autoscalingService: String = "gateway",
        autoscalingPath: String? = nil,
        autoscalingRate: Double = 200,
        autoscalingMaxRate: Double? = nil,
        autoscalingSlack: Duration = .seconds(60),
        autoscalingSyncPeriod: Duration = .seconds(15),
        autoscalingMetricsLag: Duration = .seconds(60),
        pollInterval: Duration = .milliseconds(500)
    ) {
        self.runID = runID
        self.paymentAttempts = paymentAttempts
        self.asyncMessages = asyncMessages
        self.asyncTimeout = asyncTimeout
        self.failoverService = failoverService
        self.failoverPath = failoverPath
        self.failoverRate = failoverRate
        self.failoverDuration = failoverDuration
        self.failoverKillAfter = failoverKillAfter
        self.failoverErrorBudget = failoverErrorBudget
        self.replicaReturnBudget = replicaReturnBudget
        self.alertService = alertService
        self.alertSlack = alertSlack
        self.alertErrorRate = alertErrorRate
        self.allowedCriticalAlerts = allowedCriticalAlerts
        self.autoscalingService = autoscalingService
        self.autoscalingPath = autoscalingPath
        self.autoscalingRate = autoscalingRate
        self.autoscalingMaxRate = autoscalingMaxRate
        self.autoscalingSlack = autoscalingSlack
        self.autoscalingSyncPeriod = autoscalingSyncPeriod
        self.autoscalingMetricsLag = autoscalingMetricsLag
        self.pollInterval = pollInterval
    }

    /// Eight lower-case hex digits.
    public static func makeRunID() -> String {
        String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 16)
    }
}
