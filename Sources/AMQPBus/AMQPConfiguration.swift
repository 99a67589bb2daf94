import BookstoreCore

/// How the AMQP event bus reaches its broker and where it keeps messages it could not send yet.
public struct AMQPConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String
    /// The heartbeat interval proposed to the broker, in seconds (0 disables heartbeats).
    public var heartbeatSeconds: Int
    /// The folder of the durable outbox (one slot per running process inside it).
    public var outboxDirectory: String
    /// The most messages the outbox holds; a publish beyond it fails.
    public var outboxMaxMessages: Int
    /// The most bytes the outbox file may take; a publish beyond it fails. Size the outbox's volume to it.
    public var outboxMaxBytes: Int
    /// How long a publish waits for the broker's confirm before the message goes to the outbox.
    public var confirmTimeout: Duration
    /// How long opening the TCP connection, and separately the AMQP handshake, may take.
    public var connectTimeout: Duration
    /// The bound on every synchronous AMQP method (declarations, `basic.qos`, `basic.consume`).
    public var rpcTimeout: Duration
    /// Reconnection delays: exponential from `base`, capped at `max`, with jitter.
    public var reconnectBackoff: Backoff
    /// The name shown for this process's connections in the broker's management UI.
    public var connectionName: String

    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        user: String = "guest",
        password: String = "guest",
        virtualHost: String = "/",
        heartbeatSeconds: Int = 30,
        outboxDirectory: String,
        outboxMaxMessages: Int = 100_000,
        outboxMaxBytes: Int = 256 << 20,
        confirmTimeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(3),
        rpcTimeout: Duration = .seconds(10),
        reconnectBackoff: Backoff = .reconnect,
        connectionName: String = "bookstore"
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.heartbeatSeconds = heartbeatSeconds
        self.outboxDirectory = outboxDirectory
        self.outboxMaxMessages = outboxMaxMessages
        self.outboxMaxBytes = outboxMaxBytes
        self.confirmTimeout = confirmTimeout
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.reconnectBackoff = reconnectBackoff
        self.connectionName = connectionName
    }

    /// Reads `RABBITMQ_HOST`, `RABBITMQ_PORT` (5672), `RABBITMQ_USER`, `RABBITMQ_PASS`, `RABBITMQ_VHOST` (/),
    /// `RABBITMQ_HEARTBEAT_SECONDS` (30), `RABBITMQ_OUTBOX_DIR` (`$TMPDIR/bookstore-outbox/<service name>`) and
    /// `RABBITMQ_OUTBOX_MAX_MESSAGES` (100000) and `RABBITMQ_OUTBOX_MAX_BYTES` (268435456, 256 MiB; the outbox's
    /// volume must hold it). Nothing here talks to the broker.
    public init(settings: Settings, serviceName: String) throws(ConfigurationError) {
        let host = settings.string("RABBITMQ_HOST", default: "127.0.0.1")
        guard !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ConfigurationError("invalid RABBITMQ_HOST=\(host): expected a host name or an IP address")
        }
        let vhost = settings.string("RABBITMQ_VHOST", default: "/")
        guard vhost.utf8.count <= 255 else { throw ConfigurationError("invalid RABBITMQ_VHOST: longer than 255 bytes") }
        let temporary = settings["TMPDIR"] ?? "/tmp"
        let defaultOutbox = Self.join(temporary, "bookstore-outbox", Self.safePathComponent(serviceName))
        let outbox = settings.string("RABBITMQ_OUTBOX_DIR", default: defaultOutbox)
        guard outbox.hasPrefix("/") else {
            throw ConfigurationError("invalid RABBITMQ_OUTBOX_DIR=\(outbox): expected an absolute path")
        }
        self.init(
            host: host,
            port: try settings.int("RABBITMQ_PORT", default: 5672, range: 1...65535),
            user: settings.string("RABBITMQ_USER", default: "guest"),
            password: settings.string("RABBITMQ_PASS", default: "guest"),
            virtualHost: vhost,
            heartbeatSeconds: try settings.int("RABBITMQ_HEARTBEAT_SECONDS", default: 30, range: 0...3600),
            outboxDirectory: outbox,
            outboxMaxMessages: try settings.int("RABBITMQ_OUTBOX_MAX_MESSAGES", default: 100_000, range: 1...100_000_000),
            outboxMaxBytes: try settings.int("RABBITMQ_OUTBOX_MAX_BYTES", default: 256 << 20, range: 4096...(1 << 40)),
            connectionName: serviceName
        )
    }

    /// `name` reduced to letters, digits, `.`, `_` and `-` (anything else becomes `_`), never empty, `.` or `..`.
    static func safePathComponent(_ name: String) -> String {
        let cleaned = String(
            name.unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": Character(scalar)
                default: "_"
                }
            }
        )
        if cleaned.isEmpty || cleaned == "." || cleaned == ".." { return "service" }
        return cleaned
    }

    private static func join(_ base: String, _ components: String...) -> String {
        var path = base
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        for component in components {
            path += (path.hasSuffix("/") ? "" : "/") + component
        }
        return path
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    /// The configuration without the password.
    public var description: String {
        "amqp://\(self.user)@\(self.host):\(self.port)\(self.virtualHost == "/" ? "/" : "/" + self.virtualHost)"
    }
}

extension Backoff {
    /// Between broker reconnection attempts: from 100 ms up to 5 s, equal jitter, so the attempts of many processes
    /// spread out without ever retrying in a hot loop.
    public static let reconnect = Backoff(base: .milliseconds(100), max: .seconds(5), jitter: .equal)
}
