import ConformanceKit
import Hummingbird
import Testing

@Suite struct ContractsSuiteTests {
    @Test func aConformingRegistrationPasses() async throws {
        let fake = FakeBookstore()
        try await FakeServer.with(fake.router) { url in
            let results = try await Harness.run(["API-USERS-REGISTER-201"], endpoints: TargetEndpoints(baseURL: url, contracts: Harness.contracts))
            #expect(results["API-USERS-REGISTER-201"]?.status == .passed)
        }
    }

    /// Issue 10: API-REVIEWS-CREATE-CONCURRENT looked only at the answers, never at what was stored.
    @Test func concurrentDuplicatesThatWereStoredFailTheConcurrencyCheck() async throws {
        for duplicates in [false, true] {
            let fake = FakeBookstore(defects: .init(storesConcurrentDuplicates: duplicates))
            try await FakeServer.with(fake.router) { url in
                let id = "API-REVIEWS-CREATE-CONCURRENT"
                let results = try await Harness.run([id], endpoints: TargetEndpoints(baseURL: url, contracts: Harness.contracts))
                let result = try #require(results[id])
                if duplicates {
                    #expect(result.status.isFailure)
                    #expect(result.status.message?.contains("total 10") == true, "\(result.status.message ?? "")")
                } else {
                    #expect(result.status == .passed, "\(result.status.message ?? "")")
                }
            }
        }
    }

    @Test func aWrongFieldTypeFailsTheContractCheckNamingTheField() async throws {
        let fake = FakeBookstore(defects: .init(wrongUserIDType: true))
        try await FakeServer.with(fake.router) { url in
            let results = try await Harness.run(["API-USERS-REGISTER-201"], endpoints: TargetEndpoints(baseURL: url, contracts: Harness.contracts))
            let result = try #require(results["API-USERS-REGISTER-201"])
            #expect(result.status.isFailure)
            let message = result.status.message ?? ""
            #expect(message.contains("$.user.id"), "the failure names the field: \(message)")
            #expect(message.hasPrefix("expected "), "the failure says what was expected: \(message)")
            #expect(message.contains("seen "), "the failure says what was seen: \(message)")
            #expect(result.evidence.contains { if case .exchange(let exchange) = $0 { exchange.status == 201 } else { false } })
        }
    }

    /// One defect turns its own checks red, not the whole run: a proxy that drops X-Gateway-Service fails the gateway
    /// header check, while the contract checks of the same responses still pass.
    @Test func missingGatewayHeadersFailOnlyTheGatewayHeaderCheck() async throws {
        let router = FakeBookstore().router
        router.get("/api/users/health") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"healthy","service":"user-service","version":"1"}"#))
            )
        }
        try await FakeServer.with(router) { url in
            let ids = ["API-SMOKE-USERS-HEALTH", "API-GATEWAY-SERVICE-HEADER"]
            let results = try await Harness.run(ids, endpoints: TargetEndpoints(baseURL: url, contracts: Harness.contracts))
            #expect(results["API-SMOKE-USERS-HEALTH"]?.status == .passed, "\(results["API-SMOKE-USERS-HEALTH"]?.status.message ?? "")")
            let message = results["API-GATEWAY-SERVICE-HEADER"]?.status.message ?? ""
            #expect(results["API-GATEWAY-SERVICE-HEADER"]?.status.isFailure == true)
            #expect(message.contains("X-Gateway-Service"), "\(message)")
        }
    }

    @Test func gatewayPathsMapOntoTheServiceDocuments() {
        let routes = GatewayRouteMap.standard
        #expect(routes.resolve("/api/payments-python/abc/refund")?.service == "payments-python")
        #expect(routes.resolve("/api/payments-python/abc/refund")?.path == "/api/payments/abc/refund")
        #expect(routes.resolve("/api/users/health/live")?.path == "/api/health/live")
        #expect(routes.resolve("/api/payments-java/actuator/health")?.path == "/actuator/health")
        #expect(routes.resolve("/api/reviews/book/x?page=1")?.path == "/api/reviews/book/x?page=1")
        #expect(routes.resolve("/actuator/health")?.service == GatewayRouteMap.gateway)
        #expect(routes.resolve("/elsewhere") == nil)
        #expect(routes.gatewayPath(service: "users", path: "/api/health") == "/api/users/health")
        #expect(routes.gatewayPath(service: "payments-java", path: "/api/payments/{paymentId}") == "/api/payments-java/{paymentId}")
        #expect(routes.gatewayPath(service: "users", path: "/metrics") == nil)
    }

    @Test func everyProtectedOperationOfTheDocumentsIsReachableThroughTheGateway() {
        let operations = Harness.contracts.gatewayOperations
        let protected = operations.filter(\.requiresAuthentication).map(\.label)
        #expect(protected.contains("POST /api/payments-python"))
        #expect(protected.contains("DELETE /api/reviews/{review_id}"))
        #expect(protected.contains("GET /api/users/me"))
        #expect(!protected.contains("GET /api/reviews/{review_id}"), "review reads are public")
        #expect(!protected.contains { $0.contains("health") })
        #expect(protected.count >= 20)
    }
}
