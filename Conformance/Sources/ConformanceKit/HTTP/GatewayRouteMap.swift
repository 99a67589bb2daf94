/// The gateway's route table as the contract states it (SPEC §5): which upstream document describes a gateway
/// path, and what the upstream path is. Used to validate responses seen through the gateway against the upstream
/// service's OpenAPI document, and to turn a document's operations into gateway paths.
public struct GatewayRouteMap: Sendable {
    public struct Route: Sendable, Equatable {
        /// The gateway path prefix (`/api/payments-python`).
        public var prefix: String
        /// The document key of the upstream (`payments-python`).
        public var service: String
        /// What replaces the prefix upstream (`/api/payments`).
        public var rewrite: String

        public init(prefix: String, service: String, rewrite: String? = nil) {
            self.prefix = prefix
            self.service = service
            self.rewrite = rewrite ?? prefix
        }
    }

    /// The document key of the gateway's own endpoints.
    public static let gateway = "gateway"

    public let routes: [Route]

    public init(routes: [Route]) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// The default routes of SPEC §5, plus the gateway's own `/actuator` and `/metrics`.
    public static let standard = GatewayRouteMap(routes: [
        Route(prefix: "/api/auth", service: "users"),
        Route(prefix: "/api/users/health", service: "users", rewrite: "/api/health"),
        Route(prefix: "/api/users", service: "users"),
        Route(prefix: "/api/payments-python/health", service: "payments-python", rewrite: "/api/health"),
        Route(prefix: "/api/payments-python", service: "payments-python", rewrite: "/api/payments"),
        Route(prefix: "/api/payments-java/actuator", service: "payments-java", rewrite: "/actuator"),
        Route(prefix: "/api/payments-java", service: "payments-java", rewrite: "/api/payments"),
        Route(prefix: "/api/reviews/health", service: "reviews", rewrite: "/api/health"),
        Route(prefix: "/api/reviews", service: "reviews"),
        Route(prefix: "/actuator", service: gateway),
        Route(prefix: "/metrics", service: gateway),
    ])

    /// The upstream document key and path for a gateway path (a query string is kept on the upstream path).
    public func resolve(_ gatewayPath: String) -> (service: String, path: String)? {
        let (path, query) = Self.split(gatewayPath)
        for route in self.routes where path == route.prefix || path.hasPrefix(route.prefix + "/") {
            return (route.service, route.rewrite + path.dropFirst(route.prefix.count) + query)
        }
        return nil
    }

    /// The gateway path that reaches `path` of `service`, or nil when no route leads there.
    public func gatewayPath(service: String, path: String) -> String? {
        let (bare, query) = Self.split(path)
        let candidates = self.routes.filter { route in
            route.service == service && (bare == route.rewrite || bare.hasPrefix(route.rewrite + "/"))
        }
        for route in candidates.sorted(by: { $0.rewrite.count > $1.rewrite.count }) {
            let gatewayPath = route.prefix + bare.dropFirst(route.rewrite.count)
            if let back = self.resolve(gatewayPath), back.service == service, back.path == bare { return gatewayPath + query }
        }
        return nil
    }

    static func split(_ path: String) -> (path: String, query: String) {
        guard let index = path.firstIndex(of: "?") else { return (path, "") }
        return (String(path[..<index]), String(path[index...]))
    }
}
