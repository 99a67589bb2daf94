import BookstoreCore
import BookstoreTesting
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// Repeated requests return the first result instead of charging twice, also under concurrency.
@Suite struct IdempotencyTests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    func total(_ client: some TestClientProtocol, user: String = "user-1") async throws -> JSON? {
        try await client.send(.get, "/api/payments/user/\(user)", token: self.tokens.admin()).data?["total"]
    }

    @Test(arguments: Flavour.allCases)
    func aRepeatedKeyReturnsTheFirstResult(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let headers: HTTPFields = [.idempotencyKey: "key-1"]
            let first = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
            let second = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
            #expect(first.status == flavour.createdStatus)
            #expect(second.status == first.status)
            #expect(second.data == first.data)
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            try expectConforms(second, flavour, .post, "/api/payments")
            #expect(try await self.total(client) == 1)

            // Another key for the same order is another request.
            let third = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: [.idempotencyKey: "key-2"])
            #expect(third.data?[flavour.key("payment_id")] != first.data?[flavour.key("payment_id")])
            // The same key by another user is that user's own key.
            let other = self.tokens.user("user-2")
            let theirs = try await client.send(.post, "/api/payments", token: other, json: flavour.paymentBody(userID: "user-2"), headers: headers)
            #expect(theirs.status == flavour.createdStatus)
            #expect(theirs.data?[flavour.key("payment_id")] != first.data?[flavour.key("payment_id")])
        }
    }

    @Test(arguments: Flavour.allCases)
    func aDeclinedResultIsReplayedWithItsStatus(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0"]).application.test(.router) { client in
            let headers: HTTPFields = [.idempotencyKey: "key-1"]
            let first = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
            let second = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
            #expect(first.status.code == 402)
            #expect(second.status.code == 402)
            #expect(second.data == first.data)
            #expect(try await self.total(client) == 1)
        }
    }

    @Test(arguments: Flavour.allCases)
    func aReplayAfterARefundReturnsThePaymentAsItIsNow(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            for headers in [[.idempotencyKey: "key-r"], HTTPFields()] {
                let orderID = headers.isEmpty ? "unkeyed" : "keyed"
                let first = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(orderID: orderID), headers: headers)
                let id = try #require(first.data?[flavour.key("payment_id")]?.stringValue)
                try await client.send(.post, "/api/payments/\(id)/refund", token: token)
                let replay = try await client.send(
                    .post,
                    "/api/payments",
                    token: token,
                    json: flavour.paymentBody(orderID: orderID),
                    headers: headers
                )
                #expect(replay.status == flavour.createdStatus)
                #expect(replay.data?[flavour.key("payment_id")]?.stringValue == id)
                #expect(replay.data?["status"]?.stringValue == flavour.status("refunded"))
                try expectConforms(replay, flavour, .post, "/api/payments")
            }
            #expect(try await self.total(client) == 2)
        }
    }

    @Test(arguments: Flavour.allCases)
    func theSameKeyWithAnotherBodyIsAConflict(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let headers: HTTPFields = [.idempotencyKey: "key-1"]
            try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: headers)
            for body in [
                flavour.paymentBody(amount: .number("20.00")), flavour.paymentBody(orderID: "order-2"), flavour.paymentBody(currency: "EUR"),
                flavour.paymentBody(method: "paypal"), flavour.paymentBody(bookID: "book-1"),
            ] {
                let reply = try await client.send(.post, "/api/payments", token: token, json: body, headers: headers)
                #expect(reply.status == .conflict, "\(body)")
                try expectConforms(reply, flavour, .post, "/api/payments")
            }
            // The same amount written differently is the same body.
            let same = try await client.send(
                .post,
                "/api/payments",
                token: token,
                json: flavour.paymentBody(amount: .number("19.9")),
                headers: headers
            )
            #expect(same.status == flavour.createdStatus)
            #expect(try await self.total(client) == 1)
        }
    }

    @Test(arguments: Flavour.allCases)
    func keysAreValidated(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let longest = String(repeating: "k", count: 255)
            let ok = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: [.idempotencyKey: longest])
            #expect(ok.status == flavour.createdStatus)
            for key in [String(repeating: "k", count: 256), "has space", "tab\there", "ключ"] {
                let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(), headers: [.idempotencyKey: key])
                #expect(reply.status == .badRequest, "\(key)")
                try expectConforms(reply, flavour, .post, "/api/payments")
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func theSameOrderAndBodyWithoutAKeyIsNotChargedTwice(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let first = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let second = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            #expect(second.status == first.status)
            #expect(second.data == first.data)
            // A different amount for the same order is a new payment.
            let third = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(amount: .number("5.00")))
            #expect(third.data?[flavour.key("payment_id")] != first.data?[flavour.key("payment_id")])
            #expect(try await self.total(client) == 2)
        }
    }

    @Test(arguments: Flavour.allCases)
    func aDeclinedOrderMayBeRetried(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0.5", "PAYMENT_RANDOM_SEED": "11"]).application.test(.router) { client in
            // Find an order the seeded processor declines, then retry it: a new attempt, not the failed replay.
            for index in 0..<40 {
                let body = flavour.paymentBody(orderID: "order-\(index)")
                let first = try await client.send(.post, "/api/payments", token: token, json: body)
                guard first.status.code == 402 else { continue }
                let retry = try await client.send(.post, "/api/payments", token: token, json: body)
                #expect(retry.data?[flavour.key("payment_id")] != first.data?[flavour.key("payment_id")])
                #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
                return
            }
            Issue.record("the seeded processor never declined")
        }
    }

    @Test(arguments: Flavour.allCases)
    func parallelIdenticalRequestsChargeOnce(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_PROCESSING_MS": "30"]).application.test(.router) { client in
            for headers in [[.idempotencyKey: "parallel-key"], HTTPFields()] {
                let orderID = headers.isEmpty ? "unkeyed" : "keyed"
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(orderID: orderID), headers: headers)
                        }
                    }
                    return try await group.reduce(into: [Reply]()) { $0.append($1) }
                }
                #expect(replies.allSatisfy { $0.status == flavour.createdStatus })
                let ids = Set(replies.compactMap { $0.data?[flavour.key("payment_id")]?.stringValue })
                #expect(ids.count == 1)
                #expect(replies.filter { $0.headers[HTTPField.Name("Idempotent-Replayed")!] == nil }.count == 1)
            }
            #expect(try await self.total(client) == 2)
        }
    }
}
