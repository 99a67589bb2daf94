import ConformanceKit
import Testing

@Suite struct AsyncSuiteTests {
    static func endpoints(_ url: String) -> TargetEndpoints {
        TargetEndpoints(baseURL: url, rabbitManagement: RabbitManagementEndpoint(url: url, user: "guest", password: "guest"))
    }

    static var options: RunOptions {
        var options = RunOptions()
        options.asyncMessages = 20
        options.asyncTimeout = .seconds(2)
        return options
    }

    static let ids = [
        "ASYNC-PAYMENT-REQUEST-REPLY", "ASYNC-PAYMENT-RESPONSE-DEFAULT", "ASYNC-POISON-DLQ", "ASYNC-NO-LOSS-NO-DUPLICATES", "ASYNC-DEDUPE-MESSAGE-ID",
    ]

    @Test func aBrokerWithAFaithfulConsumerPasses() async throws {
        try await FakeServer.with(FakeBroker().router) { url in
            let results = try await Harness.run(Self.ids, endpoints: Self.endpoints(url), options: Self.options)
            #expect(results.count == Self.ids.count)
            for (id, result) in results { #expect(result.status == .passed, "\(id): \(result.status.message ?? "")") }
        }
    }

    @Test func aConsumerDroppingMessagesFailsTheNoLossCheck() async throws {
        try await FakeServer.with(FakeBroker(defects: .init(dropsEvery: 7)).router) { url in
            let results = try await Harness.run(["ASYNC-NO-LOSS-NO-DUPLICATES"], endpoints: Self.endpoints(url), options: Self.options)
            let result = try #require(results["ASYNC-NO-LOSS-NO-DUPLICATES"])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("20 replies, one per request") == true, "\(result.status.message ?? "")")
            #expect(result.status.message?.contains("2 missing") == true, "\(result.status.message ?? "")")
        }
    }

    @Test func aPoisonMessageThatIsDroppedFailsTheDLQCheck() async throws {
        var shortened = Self.options
        shortened.asyncTimeout = .milliseconds(500)
        let options = shortened
        try await FakeServer.with(FakeBroker(defects: .init(losesPoison: true)).router) { url in
            let results = try await Harness.run(["ASYNC-POISON-DLQ"], endpoints: Self.endpoints(url), options: options)
            let result = try #require(results["ASYNC-POISON-DLQ"])
            #expect(result.status.isFailure)
            #expect(result.status.message?.contains("payment_requests.dlq") == true, "\(result.status.message ?? "")")
        }
    }

    @Test func topicPatternsMatchLikeRabbitMQ() {
        #expect(FakeBroker.matches("payment.#", "payment.completed"))
        #expect(FakeBroker.matches("payment.#", "payment"))
        #expect(FakeBroker.matches("*.completed", "payment.completed"))
        #expect(!FakeBroker.matches("payment.*", "payment.a.b"))
        #expect(!FakeBroker.matches("review.#", "payment.completed"))
    }
}
