import BookstoreCore
import BookstoreTesting
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// Request validation edges of POST /api/payments: never a 5xx, always the flavour's envelope.
@Suite struct ValidationTests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    static let badAmounts: [JSON] = [
        .number("0.001"), .number("0"), .number("-1"), .number("1000000.01"), .string("12.50"), .bool(true), .null,
        .number("12.345"), .number("1e7"), .array([]),
    ]

    @Test(arguments: Flavour.allCases)
    func rejectsBadAmounts(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            for amount in Self.badAmounts {
                let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(amount: amount))
                #expect(reply.status == .badRequest, "\(amount)")
                try expectConforms(reply, flavour, .post, "/api/payments")
                #expect(reply.text.contains("amount"), "\(amount): \(reply.text)")
                if flavour == .python {
                    #expect(reply.json["errors"]?[0]?["field"] == "amount")
                }
            }
            var noAmount = try #require(flavour.paymentBody().objectValue)
            noAmount["amount"] = nil
            let missing = try await client.send(.post, "/api/payments", token: token, json: .object(noAmount))
            #expect(missing.status == .badRequest)
            #expect(missing.text.contains("amount is required"))
        }
    }

    @Test(arguments: Flavour.allCases)
    func acceptsExactAmountsAndWritesTwoDecimals(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let cases: [(JSON, String)] = [
            (.number("1e2"), "100.00"), (.number("0.01"), "0.01"), (.number("1000000"), "1000000.00"), (.number("19.9"), "19.90"),
            (.number("7"), "7.00"),
        ]
        try await flavour.build().application.test(.router) { client in
            for (index, (amount, written)) in cases.enumerated() {
                let reply = try await client.send(
                    .post,
                    "/api/payments",
                    token: token,
                    json: flavour.paymentBody(orderID: "o\(index)", amount: amount)
                )
                #expect(reply.status == flavour.createdStatus, "\(amount)")
                #expect(reply.data?["amount"] == .number(written))
                #expect(reply.text.contains("\"amount\":\(written)"))
                try expectConforms(reply, flavour, .post, "/api/payments")
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func currencyAndMethodAcceptAnyCaseAndAnswerCanonically(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(currency: "eur", method: "PayPal"))
            #expect(reply.status == flavour.createdStatus)
            #expect(reply.data?["currency"] == "EUR")
            #expect(reply.data?[flavour.key("payment_method")] == (flavour == .python ? "paypal" : "PAYPAL"))
            for currency in ["GBP", "cad", "Aud", "USD"] {
                let ok = try await client.send(
                    .post,
                    "/api/payments",
                    token: token,
                    json: flavour.paymentBody(orderID: currency, currency: .string(currency))
                )
                #expect(ok.data?["currency"]?.stringValue == currency.uppercased())
            }
            for method in ["debit_card", "BANK_TRANSFER", "credit_card"] {
                let ok = try await client.send(
                    .post,
                    "/api/payments",
                    token: token,
                    json: flavour.paymentBody(orderID: method, method: .string(method))
                )
                #expect(ok.status == flavour.createdStatus, "\(method)")
            }
            for (currency, method) in [(JSON.string("JPY"), JSON?.none), ("US", nil), (1, nil), (nil, "cash"), (nil, true)] {
                let bad = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(currency: currency, method: method))
                #expect(bad.status == .badRequest, "\(String(describing: currency)) \(String(describing: method))")
                try expectConforms(bad, flavour, .post, "/api/payments")
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func identifiersAreCheckedForPatternAndLength(_ flavour: Flavour) async throws {
        let token = self.tokens.admin()
        let id100 = String(repeating: "a", count: 100)
        let id101 = String(repeating: "a", count: 101)
        try await flavour.build().application.test(.router) { client in
            let ok = try await client.send(
                .post,
                "/api/payments",
                token: token,
                json: flavour.paymentBody(orderID: id100, userID: id100, bookID: id100)
            )
            #expect(ok.status == flavour.createdStatus)
            try expectConforms(ok, flavour, .post, "/api/payments")
            for body in [
                flavour.paymentBody(orderID: id101), flavour.paymentBody(userID: id101), flavour.paymentBody(bookID: id101),
                flavour.paymentBody(orderID: "has space"), flavour.paymentBody(orderID: "semi;colon"), flavour.paymentBody(userID: "ü"),
                flavour.paymentBody(orderID: ""), flavour.paymentBody(orderID: "   "), flavour.paymentBody(bookID: "a|b"),
            ] {
                let reply = try await client.send(.post, "/api/payments", token: token, json: body)
                #expect(reply.status == .badRequest, "\(body)")
                try expectConforms(reply, flavour, .post, "/api/payments")
            }
            let numeric = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(extra: [flavour.key("order_id"): 42]))
            #expect(numeric.status == .badRequest)
            #expect(numeric.text.contains("must be a string"))
        }
    }

    @Test(arguments: Flavour.allCases)
    func everyProblemIsListed(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let reply = try await client.send(.post, "/api/payments", token: token, json: ["currency": "XXX"])
            #expect(reply.status == .badRequest)
            let errors = try #require(reply.json["errors"]?.arrayValue)
            #expect(errors.count == 4)
            try expectConforms(reply, flavour, .post, "/api/payments")
        }
    }

    @Test(arguments: Flavour.allCases)
    func malformedBodiesAre4xx(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            for body in ["", "{", "[1]", "\"x\"", "null", "{\"amount\":01}", "{\"a\":1}}", "\u{FEFF}{}"] {
                let reply = try await client.send(.post, "/api/payments", token: token, body: body)
                #expect(reply.status == .badRequest, "\(body)")
                try expectConforms(reply, flavour, .post, "/api/payments")
            }
            let large = "{\"order_id\":\"" + String(repeating: "a", count: 5000) + "\"}"
            let tooLarge = try await client.send(.post, "/api/payments", token: token, body: large)
            #expect(tooLarge.status == .contentTooLarge)
            try expectConforms(tooLarge, flavour, .post, "/api/payments")
            let noBody = try await client.send(.post, "/api/payments", token: token)
            #expect(noBody.status == .badRequest)
        }
    }

    @Test(arguments: Flavour.allCases)
    func javaAcceptsSnakeCaseNamesToo(_ flavour: Flavour) async throws {
        guard flavour == .java else { return }
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let body: JSON = ["order_id": "o-1", "user_id": "user-1", "amount": .number("5.00"), "payment_method": "debit_card", "book_id": "b-1"]
            let reply = try await client.send(.post, "/api/payments", token: token, json: body)
            #expect(reply.status == .created)
            #expect(reply.data?["orderId"] == "o-1")
            #expect(reply.data?["paymentMethod"] == "DEBIT_CARD")
            #expect(reply.data?["bookId"] == "b-1")
        }
    }
}
