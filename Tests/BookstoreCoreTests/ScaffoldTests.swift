import BookstoreCore
import Foundation
import Hummingbird
import HummingbirdTesting
import JSONKit
import Logging
import Synchronization
import Testing

let testSecret = "test-secret-that-is-long-enough-0123456789"

func makeScaffold(_ extra: [String: String] = [:]) async throws -> ServiceScaffold {
    try await ServiceScaffold(
        settings: Settings(
            environment: ["JWT_SECRET": testSecret, "PORT": "0", "ACCESS_LOG": "false", "MAX_BODY_BYTES": "2048"].merging(extra) { $1 }
        ),
        defaultServiceName: "test-service",
        defaultPort: 0,
        renderError: { error, requestID in ["message": .string(error.message), "requestId": .string(requestID)] }
    )
}

@Suite struct ScaffoldTests {
    func app() async throws -> (Application<RouterResponder<BookstoreRequestContext>>, ServiceScaffold) {
        let scaffold = try await makeScaffold()
        let router = scaffold.makeRouter()
        router.get("/items/:id") { _, context in Response.json(["id": .string(context.parameters.get("id") ?? "")]) }
        router.post("/echo") { request, _ in Response.json(.object(try await request.jsonObject(limit: scaffold.common.maxBodyBytes))) }
        router.get("/boom") { _, _ -> Response in throw CancellationError() }
        router.get("/database-down") { _, _ -> Response in
            throw DependencyError(dependency: "database", underlying: CancellationError())
        }
        router.addHealthRoutes(base: "/api/health", serviceName: "test-service", version: "1.2.3", readiness: scaffold.readiness)
        return (scaffold.makeApplication(router: router), scaffold)
    }

    @Test func requestIDIsHonouredOrCreatedAndEchoed() async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/items/1", method: .get, headers: [.requestID: "abc-123"]) { response in
                #expect(response.headers[.requestID] == "abc-123")
            }
            try await client.execute(uri: "/items/1", method: .get, headers: [.requestID: "bad id with spaces"]) { response in
                let id = try #require(response.headers[.requestID])
                #expect(UUID(uuidString: id) != nil)
                #expect(id.count == 36 && id == id.lowercased())
            }
        }
    }

    @Test func errorsUseTheEnvelopeAndNeverLeakDetails() async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try JSON.parse(Array(buffer: response.body))
                #expect(body["message"] != nil)
                #expect(body["requestId"]?.stringValue == response.headers[.requestID])
            }
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(String(buffer: response.body).contains("CancellationError") == false)
            }
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            for (method, path, allow) in [
                (HTTPRequest.Method.delete, "/items/7", "GET"), (.trace, "/items/7", "GET"), (.get, "/echo", "POST"),
                (.put, "/api/health/ready", "GET"), (.post, "/metrics", "GET"),
            ] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == allow, "\(method) \(path)")
                    let body = try JSON.parse(Array(buffer: response.body))
                    #expect(body["message"]?.stringValue == "Method \(method.rawValue) is not allowed here; allowed: \(allow)")
                    #expect(body["requestId"]?.stringValue == response.headers[.requestID])
                }
            }
            // Unknown paths stay 404, whatever the method.
            for (method, path) in [(HTTPRequest.Method.trace, "/nope"), (.get, "/items"), (.get, "/items/7/more")] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .notFound, "\(method) \(path)")
                    #expect(response.headers[.allow] == nil)
                }
            }
        }
    }

    @Test func routeMethodsPickTheMostSpecificTemplate() {
        let router = ServiceRouter()
        router.get("/api/reviews/{id}") { _, _ in "" }
        router.put("/api/reviews/{id}") { _, _ in "" }
        router.post("/api/reviews/{id}/helpful") { _, _ in "" }
        router.get("/api/reviews/book/{book}") { _, _ in "" }
        router.post("/api/payments/validate") { _, _ in "" }
        router.get("/api/payments/{id}") { _, _ in "" }
        router.get("/files/**") { _, _ in "" }
        let table = router.methods
        #expect(table.allowed(at: "/api/reviews/abc") == [.get, .put])
        #expect(table.allowed(at: "/api/reviews/abc/") == [.get, .put])
        #expect(table.allowed(at: "/api/reviews/abc/helpful") == [.post])
        #expect(table.allowed(at: "/api/reviews/book/b1") == [.get])
        #expect(table.allowed(at: "/api/payments/validate") == [.post])
        #expect(table.allowed(at: "/api/payments/p1") == [.get])
        #expect(table.allowed(at: "/files/a/b/c") == [.get])
        #expect(table.allowed(at: "/api/reviews") == nil)
        #expect(table.allowed(at: "/api/reviews/a/b/c") == nil)
        #expect(RouteMethods.allowHeader([.get, .put]) == "GET, PUT")
    }

    @Test(arguments: [
        ("", HTTPResponse.Status.badRequest), ("{", .badRequest), ("[1]", .badRequest), ("\"x\"", .badRequest),
        ("{\"a\":1}", .ok), (String(repeating: " ", count: 3000) + "{}", .contentTooLarge),
    ])
    func jsonBodiesAreValidated(_ body: String, _ status: HTTPResponse.Status) async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/echo", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == status)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            }
        }
    }

    @Test func metricsUseRouteTemplatesAndServiceLabel() async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/items/42", method: .get) { _ in }
            try await client.execute(uri: "/items/43", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"http_requests_total{service="test-service",method="GET",route="/items/{id}",status="200"} 2"#))
                #expect(
                    text.contains(
                        #"http_request_duration_seconds_bucket{service="test-service",method="GET",route="/items/{id}",status="200",le="+Inf"} 2"#
                    )
                )
                #expect(text.contains("process_resident_memory_bytes"))
                #expect(text.contains("process_cpu_seconds_total"))
                #expect(!text.contains("/items/42"))
            }
        }
    }

    /// A request that needs a dependency that is down gets 503 in the envelope with `Retry-After` (SPEC: database
    /// outages may fail requests, never hang them, and tell the client when to come back).
    @Test func anUnavailableDependencyIs503WithRetryAfter() async throws {
        let (app, _) = try await self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/database-down", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                let body = try JSON.parse(Array(buffer: response.body))
                #expect(body.description.contains("database is temporarily unavailable"), "\(body)")
            }
        }
    }

    @Test func readinessReportsChecksAndDraining() async throws {
        let (app, scaffold) = try await self.app()
        let up = Mutex(true)
        scaffold.readiness.register("database") { up.withLock { $0 } }
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSON.parse(Array(buffer: response.body))
                #expect(body == ["status": "READY", "checks": ["database": "UP"]])
            }
            up.withLock { $0 = false }
            try await client.execute(uri: "/api/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try JSON.parse(Array(buffer: response.body))
                #expect(body["checks"]?["database"] == "DOWN")
            }
            up.withLock { $0 = true }
            scaffold.readiness.beginDraining()
            try await client.execute(uri: "/api/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/api/health/live", method: .get) { response in
                #expect(response.status == .ok, "liveness ignores dependencies and draining")
            }
        }
    }
}
