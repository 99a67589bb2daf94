import Foundation
import Hummingbird
import JSONKit
import NIOCore
import Testing

@testable import ConformanceKit

/// A broken target still gets a full report, and one defect shows as its own checks (issue 10, items 2 and 3).
@Suite struct ReportingTests {
    /// A fixture that cannot be set up is an error naming it ("blocked: …"), never a failure of what the check tests,
    /// a pass or a skip.
    @Test func aFailedFixtureBlocksTheCheckAndNamesTheStep() async throws {
        let router = Router()
        router.post("/api/auth/register") { _, _ in
            Response(status: .permanentRedirect, headers: [.location: "/api/auth/register/"])
        }
        try await FakeServer.with(router) { url in
            let results = try await Harness.run(["API-REVIEWS-CREATE-201"], endpoints: TargetEndpoints(baseURL: url, contracts: Harness.contracts))
            let status = try #require(results["API-REVIEWS-CREATE-201"]?.status)
            #expect(status.isError, "\(status)")
            #expect(status.message?.hasPrefix("blocked: POST /api/auth/register (fixture user alice): answered 308") == true, "\(status)")
        }
    }

    /// A target whose health path redirects is not ready: TARGET-READY fails after the bounded wait, and every
    /// check still runs against it (here the smoke check fails on its own terms).
    @Test func anUnreadyTargetFailsTargetReadyAndTheChecksStillRun() async throws {
        let router = Router()
        router.get("/api/users/health") { _, _ in Response(status: .permanentRedirect, headers: [.location: "/api/users/health/"]) }
        try await FakeServer.with(router) { url in
            let target = EmbeddedTarget(configuration: .init(binary: nil, baseURL: url, contracts: Harness.contracts))
            let problem: String? = await {
                do {
                    try await target.prepare()
                    return nil
                } catch let error as TargetNotReady {
                    return error.message
                } catch {
                    return "unexpected \(error)"
                }
            }()
            let message = try #require(problem)
            #expect(message.contains("not ready"), "\(message)")
            let checks = try Catalogue.select(ids: ["API-SMOKE-USERS-HEALTH", "API-GATEWAY-UNKNOWN-ROUTE-404"])
            let report = await ConformanceRunner.run(checks, against: target, readinessProblem: message)
            #expect(report.results.map(\.id) == ["TARGET-READY", "API-SMOKE-USERS-HEALTH", "API-GATEWAY-UNKNOWN-ROUTE-404"])
            #expect(report.results[0].status.isFailure)
            #expect(report.results[1].status.isFailure, "\(report.results[1].status)")
            #expect(!report.results[2].status.isSkipped)
            #expect(!report.isSuccessful)
            let markdown = MarkdownReport.render(report)
            #expect(markdown.contains("TARGET-READY"))
        }
    }

    /// A target that could not even start leaves no base URL: checks that need HTTP are blocked by TARGET-READY,
    /// not skipped (a skip would read as "not applicable").
    @Test func aTargetThatNeverStartedBlocksItsHTTPChecks() async throws {
        let target = EmbeddedTarget(configuration: .init(binary: "/nonexistent/bookstore", contracts: Harness.contracts))
        var problem = ""
        do { try await target.prepare() } catch { problem = "\(error)" }
        #expect(problem.contains("no bookstore binary"))
        let checks = try Catalogue.select(ids: ["API-SMOKE-USERS-HEALTH"])
        let report = await ConformanceRunner.run(checks, against: target, readinessProblem: problem)
        #expect(report.results[0].status.isFailure)
        #expect(report.results[1].status.message?.hasPrefix("blocked: TARGET-READY failed") == true)
        #expect(report.results[1].status.isError)
    }

    @Test func markdownGroupsFailuresByRootCause() {
        let results =
            (1...3).map { n in
                CheckResult(
                    id: "C-\(n)",
                    suite: .contracts,
                    summary: "",
                    status: .errored("blocked: POST /api/auth/register (fixture user cf_ab12_u\(n)_\(n)): answered 308"),
                    duration: .zero,
                    evidence: []
                )
            } + [CheckResult(id: "C-9", suite: .security, summary: "", status: .failed("expected 401, seen 200"), duration: .zero, evidence: [])]
        let report = RunReport(targetName: "t", startedAt: Date(), duration: .zero, results: results)
        let markdown = MarkdownReport.render(report)
        #expect(markdown.contains("## Failures by root cause"))
        #expect(markdown.contains("- 3 × blocked: POST /api/auth/register (fixture user {name}): answered {n} — C-1, C-2, C-3"), "\(markdown)")
        #expect(markdown.contains("- 1 × expected {n}, seen {n} — C-9"))
    }
}

/// SEC-DIRECT-JWT-*: a service called without the gateway verifies tokens itself; the planted twins (a service that
/// ignores tokens because "the gateway checks them", and a URL that refuses everything) fail it.
@Suite struct DirectServiceTokenTests {
    enum Behaviour: Sendable { case verifies, ignoresTokens, refusesEverything }

    struct DirectService: RouterMiddleware {
        typealias Context = BasicRequestContext
        let bookstore: FakeBookstore
        let behaviour: Behaviour

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            let authorized: Bool
            switch self.behaviour {
            case .verifies: authorized = self.bookstore.subject(of: request) != nil
            case .ignoresTokens: authorized = true
            case .refusesEverything: authorized = false
            }
            return authorized
                ? Response.json(["error": "Review not found"], status: .notFound) : Response.json(["error": "Unauthorized"], status: .unauthorized)
        }
    }

    func run(_ behaviour: Behaviour) async throws -> CheckStatus {
        let bookstore = FakeBookstore()
        return try await FakeServer.with(bookstore.router) { gateway in
            let direct = Router()
            direct.add(middleware: DirectService(bookstore: bookstore, behaviour: behaviour))
            return try await FakeServer.with(direct) { service in
                let endpoints = TargetEndpoints(baseURL: gateway, contracts: Harness.contracts, serviceURLs: ["reviews": service])
                let results = try await Harness.run(["SEC-DIRECT-JWT-REVIEWS"], endpoints: endpoints)
                return try #require(results["SEC-DIRECT-JWT-REVIEWS"]?.status)
            }
        }
    }

    @Test func aServiceThatVerifiesTokensPasses() async throws {
        let status = try await self.run(.verifies)
        #expect(status == .passed, "\(status)")
    }

    @Test func aServiceThatTrustsTheGatewayFails() async throws {
        let status = try await self.run(.ignoresTokens)
        #expect(status.isFailure)
        #expect(status.message?.contains("with no token → 404") == true, "\(status)")
    }

    @Test func aURLThatRefusesEverythingFailsTheControl() async throws {
        let status = try await self.run(.refusesEverything)
        #expect(status.isFailure)
        #expect(status.message?.contains("the real token accepted") == true, "\(status)")
    }

    @Test func withoutServiceURLsTheCheckIsSkippedWithTheFlagToPass() async throws {
        let results = try await Harness.run(
            ["SEC-DIRECT-JWT-USERS"],
            endpoints: TargetEndpoints(baseURL: "http://127.0.0.1:9", contracts: Harness.contracts)
        )
        #expect(results["SEC-DIRECT-JWT-USERS"]?.status.message?.contains("--service-url") == true)
    }
}

/// The tightened malformed-input judgement (issue 10, item 5): each planted twin is caught.
@Suite struct MalformedAnswerTests {
    func response(_ status: Int, _ body: String, headers: [(String, String)] = [("Content-Type", "application/json")]) -> ConformanceKit.HTTPResponse
    {
        ConformanceKit.HTTPResponse(
            method: "POST",
            url: "http://127.0.0.1:1/api/reviews",
            path: "/api/reviews",
            status: status,
            headers: headers.map { (name: $0.0, value: $0.1) },
            body: Array(body.utf8),
            duration: .zero
        )
    }

    @Test(arguments: [
        #"{"message":"bad (java.lang.IllegalArgumentException: at com.bookstore.users.AuthController.register(AuthController.java:57))"}"#,
        #"{"error":"Traceback (most recent call last):\n  File \"/app/app.py\", line 12, in create"}"#,
        #"{"error":"invalid literal for int() with base 10: 'abc'"}"#,
        #"{"error":"TypeError: Cannot read properties of undefined\n    at create (/srv/app/routes.js:41:17)"}"#,
        #"{"error":"panic: runtime error: index out of range\ngoroutine 7 [running]:"}"#,
        #"{"error":"Fatal error: Unexpectedly found nil at ReviewsController.swift:88"}"#,
        #"{"error":"duplicate key value violates unique constraint \"users_email_key\""}"#,
        #"<html><body>Internal error</body></html>"#,
    ])
    func leaksInErrorBodiesAreCaught(_ body: String) {
        #expect(MalformedInput.problem(with: self.response(400, body)) != nil, "\(body)")
    }

    @Test func cleanAnswersPass() {
        #expect(MalformedInput.problem(with: self.response(400, #"{"errors":["rating must be an integer between 1 and 5"]}"#)) == nil)
        #expect(MalformedInput.problem(with: self.response(201, #"{"review_id":"x"}"#)) == nil)
        #expect(LeakMarkers.find(in: Array(#"{"message":"Payment declined by gateway"}"#.utf8)) == nil)
    }

    @Test func redirectsAndAcceptedGarbageAreCaught() {
        let redirect = self.response(308, "", headers: [("Location", "/api/reviews/")])
        #expect(MalformedInput.problem(with: redirect)?.contains("redirect") == true)
        #expect(MalformedInput.problem(with: self.response(200, "{}"), mustReject: true)?.contains("accepted") == true)
        #expect(MalformedInput.problem(with: self.response(200, "{}"), mustReject: false) == nil)
        #expect(MalformedInput.problem(with: self.response(400, "bad request"))?.contains("non-JSON") == true)
    }
}
