import BookstoreCore
import BookstoreTesting
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// The processor behind a retry policy and the `payment-processor` circuit breaker.
@Suite struct ResilienceTests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    @Test(arguments: Flavour.allCases)
    func anUnavailableProcessorIs503AndOpensTheBreaker(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let settings = [
            "PAYMENT_PROCESSOR_ERROR_RATE": "1", "PAYMENT_RETRY_MAX_ATTEMPTS": "3", "PAYMENT_BREAKER_FAILURES": "2",
            "PAYMENT_BREAKER_OPEN_SECONDS": "45",
        ]
        let name = flavour == .python ? "payment-service-python" : "payment-service-java"
        let gauge = #"circuit_breaker_state{service="\#(name)",name="payment-processor"}"#
        try await flavour.build(settings).application.test(.router) { client in
            let before = try await client.send(.get, "/metrics")
            #expect(metricValue(before.text, gauge) == 0)

            let headers: HTTPFields = [.idempotencyKey: "retry-me"]
            for attempt in 1...2 {
                let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
                #expect(reply.status == .serviceUnavailable, "attempt \(attempt)")
                #expect(reply.headers[.retryAfter] == "1")
                try expectConforms(reply, flavour, .post, "/api/payments")
                #expect(reply.json["status"] == "error")
            }
            let metrics = try await client.send(.get, "/metrics")
            #expect(metricValue(metrics.text, gauge) == 2)
            #expect(metricValue(metrics.text, #"payment_processor_retries_total{service="\#(name)"}"#) == 4)

            // Open: refused at once, with the breaker's delay.
            let refused = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(orderID: "o2"))
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "45")
            try expectConforms(refused, flavour, .post, "/api/payments")
            let after = try await client.send(.get, "/metrics")
            #expect(metricValue(after.text, #"payment_processor_retries_total{service="\#(name)"}"#) == 4)

            // Nothing was stored and the key was not bound.
            let list = try await client.send(.get, "/api/payments/user/user-1", token: token)
            #expect(list.data?["total"] == 0)
            let again = try await client.send(
                .post,
                "/api/payments",
                token: token,
                json: flavour.paymentBody(amount: .number("1.00")),
                headers: headers
            )
            #expect(again.status == .serviceUnavailable)
        }
    }

    @Test func transientErrorsAreRetriedUntilTheyPass() async throws {
        let token = self.tokens.user()
        let settings = [
            "PAYMENT_PROCESSOR_ERROR_RATE": "0.5", "PAYMENT_RANDOM_SEED": "3", "PAYMENT_RETRY_MAX_ATTEMPTS": "10",
            "PAYMENT_BREAKER_FAILURES": "1000",
        ]
        try await Flavour.python.build(settings).application.test(.router) { client in
            for index in 0..<20 {
                let reply = try await client.send(.post, "/api/payments", token: token, json: Flavour.python.paymentBody(orderID: "o\(index)"))
                #expect(reply.status == .ok, "\(reply.text)")
            }
            let metrics = try await client.send(.get, "/metrics")
            let retries = try #require(metricValue(metrics.text, #"payment_processor_retries_total{service="payment-service-python"}"#))
            #expect(retries > 0)
            #expect(metricValue(metrics.text, #"circuit_breaker_state{service="payment-service-python",name="payment-processor"}"#) == 0)
        }
    }

    @Test func declinesNeverCountAgainstTheBreaker() async throws {
        let token = self.tokens.user()
        try await Flavour.python.build(["PAYMENT_SUCCESS_RATE": "0", "PAYMENT_BREAKER_FAILURES": "1"]).application.test(.router) { client in
            for index in 0..<3 {
                let reply = try await client.send(.post, "/api/payments", token: token, json: Flavour.python.paymentBody(orderID: "o\(index)"))
                #expect(reply.status.code == 402)
            }
            let metrics = try await client.send(.get, "/metrics")
            #expect(metricValue(metrics.text, #"circuit_breaker_state{service="payment-service-python",name="payment-processor"}"#) == 0)
            #expect(metricValue(metrics.text, #"payment_processor_retries_total{service="payment-service-python"}"#) == 0)
        }
    }
}
