/// Settings every service reads: identity, port, log level, JWT, shutdown behaviour and trusted proxies.
public struct CommonSettings: Sendable {
    public var serviceName: String
    public var host: String
    public var port: Int
    public var version: String
    public var logLevel: String
    public var maxBodyBytes: Int
    /// Seconds readiness reports 503 before the server stops accepting connections on SIGTERM.
    public var shutdownDrainSeconds: Int
    public var jwt: TokenSettings
    /// `TRUSTED_PROXIES` (none): comma-separated IPv4/IPv6 addresses and CIDR networks of the proxies in front of the
    /// service (the gateway). Only a request from one of these has its `X-Forwarded-For` believed when the service
    /// needs the client address (the login rate limit); otherwise the client is the TCP peer. See ``TrustedProxies``.
    public var trustedProxies: TrustedProxies

    /// Reads the common settings.
    /// - Parameters:
    ///   - settings: the environment and flags.
    ///   - defaultServiceName: the service's canonical name (e.g. `user-service`).
    ///   - defaultPort: the service's default port.
    public init(settings: Settings, defaultServiceName: String, defaultPort: Int) throws(ConfigurationError) {
        self.serviceName = settings.string("SERVICE_NAME", default: defaultServiceName)
        self.host = settings.string("HOST", default: "127.0.0.1")
        self.port = try settings.int("PORT", default: defaultPort, range: 0...65535)
        self.version = settings.string("SERVICE_VERSION", default: "1.0.0")
        self.logLevel = try settings.choice(
            "LOG_LEVEL",
            default: "info",
            allowed: ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        )
        self.maxBodyBytes = try settings.int("MAX_BODY_BYTES", default: 1 << 20, range: 1024...(64 << 20))
        self.shutdownDrainSeconds = try settings.int("SHUTDOWN_DRAIN_SECONDS", default: 0, range: 0...300)
        self.jwt = try TokenSettings(settings: settings)
        self.trustedProxies = try TrustedProxies(settings: settings, key: "TRUSTED_PROXIES")
    }
}
