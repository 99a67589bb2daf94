import HTTPTypes

/// One gateway route: requests whose path is `prefix` or starts with `prefix/` go to `upstream`, with `prefix`
/// replaced by `rewrite` (SPEC §5).
public struct GatewayRoute: Sendable, Equatable {
    public var prefix: String
    public var upstream: String
    public var rewrite: String
    /// Methods that need no token at the edge (nil: every method is public).
    public var publicMethods: Set<String>?
    /// Whether a token is required at all on this route.
    public var requiresToken: Bool
    /// This route's response timeout, overriding the gateway's (`GATEWAY_ROUTE_TIMEOUTS_MS` sets it too).
    public var responseTimeout: Duration?

    public init(
        prefix: String,
        upstream: String,
        rewrite: String? = nil,
        requiresToken: Bool,
        publicMethods: Set<String>? = nil,
        responseTimeout: Duration? = nil
    ) {
        self.prefix = prefix
        self.upstream = upstream
        self.rewrite = rewrite ?? prefix
        self.requiresToken = requiresToken
        self.publicMethods = publicMethods
        self.responseTimeout = responseTimeout
    }

    /// The upstream path for `path`, or nil when this route does not match it.
    public func upstreamPath(for path: String) -> String? {
        guard path == self.prefix || path.hasPrefix(self.prefix + "/") else { return nil }
        return self.rewrite + path.dropFirst(self.prefix.count)
    }

    /// Whether a request with `method` must carry a valid token at the edge.
    public func needsToken(method: HTTPRequest.Method) -> Bool {
        self.needsToken(method: method.rawValue)
    }

    /// Whether a request with `method` (e.g. `GET`) must carry a valid token at the edge.
    public func needsToken(method: String) -> Bool {
        guard self.requiresToken else { return false }
        if method == "OPTIONS" { return false }
        if let publicMethods, publicMethods.contains(method) { return false }
        return true
    }
}

/// The ordered route table; the longest matching prefix wins.
public struct RouteTable: Sendable {
    public var routes: [GatewayRoute]

    public init(routes: [GatewayRoute]) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// The route and upstream path for a request path.
    public func resolve(_ path: String) -> (route: GatewayRoute, upstreamPath: String)? {
        for route in self.routes {
            if let upstreamPath = route.upstreamPath(for: path) { return (route, upstreamPath) }
        }
        return nil
    }

    /// The defaults of SPEC §5. Health and actuator routes and `/api/auth/**` are public; review reads are public.
    public static let defaults = RouteTable(routes: [
        GatewayRoute(prefix: "/api/auth", upstream: Upstreams.users, requiresToken: false),
        GatewayRoute(prefix: "/api/users/health", upstream: Upstreams.users, rewrite: "/api/health", requiresToken: false),
        GatewayRoute(prefix: "/api/users", upstream: Upstreams.users, requiresToken: true),
        GatewayRoute(prefix: "/api/payments-python/health", upstream: Upstreams.paymentsPython, rewrite: "/api/health", requiresToken: false),
        GatewayRoute(prefix: "/api/payments-python", upstream: Upstreams.paymentsPython, rewrite: "/api/payments", requiresToken: true),
        GatewayRoute(prefix: "/api/payments-java/actuator", upstream: Upstreams.paymentsJava, rewrite: "/actuator", requiresToken: false),
        GatewayRoute(prefix: "/api/payments-java", upstream: Upstreams.paymentsJava, rewrite: "/api/payments", requiresToken: true),
        GatewayRoute(prefix: "/api/reviews/health", upstream: Upstreams.reviews, rewrite: "/api/health", requiresToken: false),
        GatewayRoute(prefix: "/api/reviews", upstream: Upstreams.reviews, requiresToken: true, publicMethods: ["GET", "HEAD"]),
    ])
}

/// Upstream names and the settings that list their replicas.
public enum Upstreams {
    public static let users = "users"
    public static let paymentsPython = "payments-python"
    public static let paymentsJava = "payments-java"
    public static let reviews = "reviews"

    /// Upstream name → (setting, default address, readiness path).
    public static let settings: [(name: String, key: String, defaultURL: String, readinessPath: String)] = [
        (users, "USER_SERVICE_URL", "http://127.0.0.1:8081", "/api/health/ready"),
        (paymentsPython, "PAYMENT_PYTHON_SERVICE_URL", "http://127.0.0.1:5000", "/api/health/ready"),
        (paymentsJava, "PAYMENT_JAVA_SERVICE_URL", "http://127.0.0.1:8082", "/actuator/health/readiness"),
        (reviews, "REVIEW_SERVICE_URL", "http://127.0.0.1:5002", "/api/health/ready"),
    ]
}
