// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "bookstore",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bookstore", targets: ["bookstore"]),
        .library(name: "BookstoreRuntime", targets: ["BookstoreRuntime"]),
        .library(name: "ContractKit", targets: ["ContractKit"]),
        .executable(name: "loadtest", targets: ["loadtest"]),
        .executable(name: "conformance", targets: ["conformance"]),
        .library(name: "LoadTestKit", targets: ["LoadTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: Shared, service-agnostic modules

        /// JSON values that keep number literals exact (money), with a strict parser and a writer.
        .target(name: "JSONKit", swiftSettings: swiftSettings),

        /// The shared core: configuration, envelopes, request ids, logs, metrics, health, JWT, event bus, resilience.
        .target(
            name: "BookstoreCore",
            dependencies: [
                "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        /// Strict HTTP/1.1 wire parsing for the gateway's fast path: message heads, body framing (length, chunked,
        /// until close) and wire errors, on bytes. No HTTP framework: NIO's `ByteBuffer` only.
        .target(
            name: "HTTPWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // MARK: Services (they never import each other)

        .target(
            name: "UsersService",
            dependencies: [
                "BookstoreCore",
                "BookstorePostgres",
                "JSONKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PaymentsService",
            dependencies: [
                "BookstoreCore", "BookstorePostgres", "BookstoreMongo", "JSONKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ReviewsService",
            dependencies: [
                "BookstoreCore", "BookstoreMongo", "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatewayService",
            dependencies: [
                "BookstoreCore", "HTTPWire", "JSONKit", "SocketLoop",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Infrastructure adapters

        /// PostgreSQL support shared by the services that use it: pool, database creation, migrations, error mapping.
        .target(
            name: "BookstorePostgres",
            dependencies: [
                "BookstoreCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CMongoC",
            path: "Sources/CMongoC",
            pkgConfig: "libmongoc-1.0",
            providers: [.apt(["libmongoc-dev"])]
        ),
        /// MongoDB support over libmongoc: client pool, BSON mapping of JSON documents, error mapping.
        .target(
            name: "BookstoreMongo",
            dependencies: [
                "CMongoC", "BookstoreCore", "JSONKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CRabbitMQ",
            path: "Sources/CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        /// The RabbitMQ event bus (rabbitmq-c): topology, confirms, retries, DLQs, outbox, reconnects.
        .target(
            name: "AMQPBus",
            dependencies: [
                "CRabbitMQ", "BookstoreCore", "JSONKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Composition root and the `bookstore` executable

        .target(
            name: "BookstoreRuntime",
            dependencies: [
                "BookstoreCore", "UsersService", "PaymentsService", "ReviewsService", "GatewayService", "AMQPBus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        /// The local cluster: replicas as child processes, a supervisor that restarts them, and a control API.
        .target(
            name: "LocalCluster",
            dependencies: [
                "BookstoreRuntime", "BookstoreCore", "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bookstore",
            dependencies: [
                "BookstoreRuntime", "BookstoreCore", "LocalCluster", "JSONKit",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Black-box tooling (never imports service code)

        .target(
            name: "ContractKit",
            dependencies: ["JSONKit", .product(name: "Yams", package: "Yams")],
            path: "Conformance/Sources/ContractKit",
            swiftSettings: swiftSettings
        ),

        /// The conformance suite (SPEC §9): a catalogue of black-box checks against any implementation.
        .target(
            name: "ConformanceKit",
            dependencies: [
                "ContractKit", "JSONKit", "LoadTestKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Conformance/Sources/ConformanceKit",
            swiftSettings: swiftSettings
        ),
        /// Test-only: the planted-defect catalogue (issue 10), planted through `MiddlewareSeam`; never linked into
        /// the production `bookstore` binary.
        .target(
            name: "FaultInjection",
            dependencies: [
                "BookstoreCore", "JSONKit", "AMQPBus", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/FaultInjection",
            swiftSettings: swiftSettings
        ),
        /// Test-only: `bookstore up` with one planted defect, for ci/mutation-score.
        .executableTarget(
            name: "bookstore-faults",
            dependencies: [
                "FaultInjection", "BookstoreRuntime", "BookstoreCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/bookstore-faults",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "conformance",
            dependencies: ["ConformanceKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Conformance/Sources/conformance",
            swiftSettings: swiftSettings
        ),
        /// epoll and eventfd from glibc's headers (libc6-dev) for SocketLoop's event loops on Linux.
        .systemLibrary(name: "CEpoll", path: "Sources/CEpoll"),
        /// Event loops on non-blocking sockets and epoll (Linux): tasks and timers (each loop is an NIO `EventLoop`),
        /// client connections, listeners, read pause/resume, writability and fd hand-off. Neutral: the load engine runs
        /// on it, and it knows nothing of HTTP or of the services.
        .target(
            name: "SocketLoop",
            dependencies: [
                .target(name: "CEpoll", condition: .when(platforms: [.linux])),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        /// The load generator (SPEC §10): an engine on its own epoll loops (Linux) or SwiftNIO, HdrHistogram statistics,
        /// thresholds and reports.
        .target(
            name: "LoadTestKit",
            dependencies: [
                "SocketLoop",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "LoadTests/Sources/LoadTestKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "loadtest",
            dependencies: ["LoadTestKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "LoadTests/Sources/loadtest",
            swiftSettings: swiftSettings
        ),

        /// Benchmark-only (`ci/bench-services`, `ci/bench-gateway`): a bare Hummingbird server and bare driver loops
        /// (libmongoc, postgres-nio) as the ceilings the services are measured against, and byte relays as the floors
        /// of a Swift proxy; not part of the `bookstore` product.
        .executableTarget(
            name: "bench-hello",
            dependencies: [
                "CMongoC", "SocketLoop",
                .target(name: "CEpoll", condition: .when(platforms: [.linux])),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/bench-hello",
            swiftSettings: swiftSettings
        ),
        /// Benchmark-only (`ci/bench-services`): the bare Hummingbird server alone, for the framework's idle RSS.
        .executableTarget(
            name: "bench-hummingbird",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/bench-hummingbird",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests

        /// Test support shared by the test targets (as `HummingbirdTesting`): requests and replies through
        /// `TestClientProtocol`, test tokens, and the repository contracts every adapter must pass. Never a
        /// dependency of a production target.
        .target(
            name: "BookstoreTesting",
            dependencies: [
                "BookstoreCore", "JSONKit", "PaymentsService", "ReviewsService",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Test support shared by test targets of different parts (the gateway's, SocketLoop's and the load generator's).
        .target(name: "LoopbackPorts", path: "Tests/LoopbackPorts", swiftSettings: swiftSettings),
        .testTarget(
            name: "ConformanceKitTests",
            dependencies: [
                "ConformanceKit", "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Conformance/Tests/ConformanceKitTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LoadTestKitTests",
            dependencies: [
                "LoadTestKit", "SocketLoop", "LoopbackPorts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "LoadTests/Tests/LoadTestKitTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SocketLoopTests",
            dependencies: [
                "SocketLoop", "LoopbackPorts", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "JSONKitTests", dependencies: ["JSONKit"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HTTPWireTests",
            dependencies: ["HTTPWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LocalClusterTests",
            dependencies: [
                "LocalCluster", "BookstoreRuntime", "JSONKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ContractKitTests",
            dependencies: ["ContractKit", "JSONKit"],
            path: "Conformance/Tests/ContractKitTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BookstoreCoreTests",
            dependencies: [
                "BookstoreCore", "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "UsersServiceTests",
            dependencies: [
                "UsersService", "BookstoreCore", "BookstoreTesting", "ContractKit", "FaultInjection", "JSONKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FaultInjectionTests",
            dependencies: ["FaultInjection", "BookstoreCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaymentsServiceTests",
            dependencies: [
                "PaymentsService", "BookstoreCore", "BookstoreTesting", "ContractKit", "FaultInjection", "JSONKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ReviewsServiceTests",
            dependencies: [
                "ReviewsService", "BookstoreCore", "BookstoreTesting", "ContractKit", "FaultInjection", "JSONKit",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayServiceTests",
            dependencies: [
                "GatewayService", "BookstoreCore", "HTTPWire", "JSONKit", "SocketLoop", "LoopbackPorts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BookstoreRuntimeTests",
            dependencies: [
                "BookstoreRuntime", "BookstoreCore", "BookstoreTesting", "JSONKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BookstoreMongoTests",
            dependencies: ["BookstoreMongo", "BookstoreCore", "CMongoC", "JSONKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPBusTests",
            dependencies: ["AMQPBus", "BookstoreCore", "CRabbitMQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        /// Tests against real servers (PostgreSQL, RabbitMQ, a MongoDB-wire server); enabled by
        /// `BOOKSTORE_INTEGRATION=1` with the settings of `ci/infra` (`.data/infra.env`), skipped otherwise.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AMQPBus", "BookstoreCore", "BookstoreTesting", "JSONKit", "BookstorePostgres", "UsersService", "BookstoreMongo",
                "ReviewsService", "PaymentsService",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
