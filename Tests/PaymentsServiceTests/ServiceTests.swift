import BookstoreCore
import BookstoreTesting
import HTTPTypes
import HummingbirdTesting
import JSONKit
import Testing

@testable import PaymentsService

/// Health, metrics and configuration of both flavours.
@Suite struct ServiceTests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    @Test func pythonHealthRoutes() async throws {
        try await Flavour.python.build(["SERVICE_VERSION": "2.3.4"]).application.test(.router) { client in
            let health = try await client.send(.get, "/api/health")
            #expect(health.json == ["status": "healthy", "service": "payment-service-python", "version": "2.3.4"])
            try expectConforms(health, .python, .get, "/api/health")
            let live = try await client.send(.get, "/api/health/live")
            #expect(live.json == ["status": "UP"])
            try expectConforms(live, .python, .get, "/api/health/live")
            let ready = try await client.send(.get, "/api/health/ready")
            #expect(ready.json == ["status": "READY", "checks": ["database": "UP", "broker": "UP"]])
            try expectConforms(ready, .python, .get, "/api/health/ready")
            let metrics = try await client.send(.get, "/metrics")
            try expectConforms(metrics, .python, .get, "/metrics")
        }
    }

    @Test func javaActuatorRoutes() async throws {
        try await Flavour.java.build(["SERVICE_VERSION": "2.3.4"]).application.test(.router) { client in
            let health = try await client.send(.get, "/actuator/health")
            #expect(health.json == ["status": "UP", "components": ["database": ["status": "UP"], "broker": ["status": "UP"]]])
            try expectConforms(health, .java, .get, "/actuator/health")
            for path in ["/actuator/health/liveness", "/actuator/health/readiness"] {
                let reply = try await client.send(.get, path)
                #expect(reply.json == ["status": "UP"])
                try expectConforms(reply, .java, .get, path)
            }
            let info = try await client.send(.get, "/actuator/info")
            #expect(info.json == ["app": ["name": "payment-service-java", "version": "2.3.4"]])
            try expectConforms(info, .java, .get, "/actuator/info")
            for path in ["/actuator/prometheus", "/metrics"] {
                let reply = try await client.send(.get, path)
                #expect(reply.status == .ok)
                #expect(reply.text.contains("process_resident_memory_bytes"))
                try expectConforms(reply, .java, .get, path)
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func requestMetricsUseRouteTemplates(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let name = flavour == .python ? "payment-service-python" : "payment-service-java"
        let idParameter = flavour == .python ? "payment_id" : "paymentId"
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)
            try await client.send(.get, "/api/payments/\(id)", token: token)
            try await client.send(.get, "/api/payments/\(id)")
            let metrics = try await client.send(.get, "/metrics")
            let text = metrics.text
            let created201 = flavour.createdStatus.code
            #expect(
                text.contains(#"http_requests_total{service="\#(name)",method="POST",route="/api/payments",status="\#(created201)"} 1"#),
                "\(text)"
            )
            #expect(text.contains(#"http_requests_total{service="\#(name)",method="GET",route="/api/payments/{\#(idParameter)}",status="200"} 1"#))
            #expect(text.contains(#"http_requests_total{service="\#(name)",method="GET",route="/api/payments/{\#(idParameter)}",status="401"} 1"#))
            #expect(
                text.contains(#"http_request_duration_seconds_bucket{service="\#(name)",method="POST",route="/api/payments",status="\#(created201)""#)
            )
            #expect(!text.contains(id))
            #expect(text.contains(#"payments_processed_total{service="\#(name)",outcome="completed"} 1"#))
            #expect(text.contains("process_cpu_seconds_total"))
        }
    }

    @Test(arguments: Flavour.allCases)
    func serviceNameAndPortDefaults(_ flavour: Flavour) async throws {
        let built = try await flavour.build(["PORT": ""])
        #expect(built.scaffold.common.serviceName == (flavour == .python ? "payment-service-python" : "payment-service-java"))
        #expect(built.scaffold.common.port == (flavour == .python ? 5000 : 8082))
        #expect(PaymentsPythonApp.defaultPort == 5000)
        #expect(PaymentsJavaApp.defaultPort == 8082)
    }

    @Test(arguments: [
        ["STORAGE": "mongo"], ["STORAGE": "postgres"], ["STORAGE": "sqlite"], ["PAYMENT_SUCCESS_RATE": "1.5"], ["PAYMENT_PROCESSING_MS": "-1"],
        ["PAYMENT_RANDOM_SEED": "abc"], ["PAYMENT_RETRY_MAX_ATTEMPTS": "0"], ["PAYMENT_BREAKER_FAILURES": "x"],
        ["PAYMENT_REQUESTS_CONSUMER": "maybe"], ["PAYMENT_PROCESSOR_ERROR_RATE": "-0.1"], ["JWT_SECRET": "short"],
    ])
    func invalidSettingsFailStartUp(_ settings: [String: String]) async throws {
        for flavour in Flavour.allCases {
            await #expect(throws: ConfigurationError.self) { _ = try await flavour.build(settings) }
        }
    }

    @Test func settingsDefaults() throws {
        let python = try PaymentsSettings(settings: Settings(environment: [:]), flavour: .python)
        #expect(python.storage == "memory")
        #expect(python.processor == SimulatedProcessor.Configuration(processingDelay: .milliseconds(200), successRate: 0.85, errorRate: 0, seed: nil))
        #expect(python.retry.maxAttempts == 3)
        #expect(python.retry.baseDelay == .milliseconds(50))
        #expect(python.breaker.failureThreshold == 5)
        #expect(python.breaker.openDuration == .seconds(30))
        #expect(python.isRequestConsumerEnabled)
        let java = try PaymentsSettings(settings: Settings(environment: [:]), flavour: .java)
        #expect(!java.isRequestConsumerEnabled)
        let seeded = try PaymentsSettings(settings: Settings(environment: ["PAYMENT_RANDOM_SEED": "-5"]), flavour: .java)
        #expect(seeded.processor.seed == UInt64(bitPattern: -5))
    }
}
