import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// Every payment operation of both flavours: success and error paths, each response checked against the contract.
@Suite struct PaymentsAPITests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    @Test(arguments: Flavour.allCases)
    func createsACompletedPayment(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(bookID: "book-7"))
            #expect(reply.status == flavour.createdStatus)
            try expectConforms(reply, flavour, .post, "/api/payments")
            #expect(reply.json["status"] == "success")
            #expect(reply.json["message"] == "Payment processed successfully")
            let data = try #require(reply.data)
            #expect(data[flavour.key("amount")] == .number("19.90"))
            #expect(data[flavour.key("currency")] == "USD")
            #expect(data[flavour.key("payment_method")] == (flavour == .python ? "credit_card" : "CREDIT_CARD"))
            #expect(data[flavour.key("status")]?.stringValue == flavour.status("completed"))
            #expect(data[flavour.key("order_id")] == "order-1")
            #expect(data[flavour.key("user_id")] == "user-1")
            #expect(data[flavour.key("book_id")] == "book-7")
            let paymentID = try #require(data[flavour.key("payment_id")]?.stringValue)
            #expect(UUID(uuidString: paymentID) != nil && paymentID == paymentID.lowercased())
            let transactionID = try #require(data[flavour.key("transaction_id")]?.stringValue)
            #expect(transactionID.wholeMatch(of: /TXN-[0-9A-F]{12}/) != nil)
            let createdAt = try #require(data[flavour.key("created_at")]?.stringValue)
            let updatedAt = try #require(data[flavour.key("updated_at")]?.stringValue)
            #expect(Timestamp.parse(createdAt) != nil && createdAt <= updatedAt)
            switch flavour {
            case .python:
                #expect(data["refunded_at"] == .null)
                #expect(reply.json.objectValue?.keys == ["status", "message", "timestamp", "data"])
            case .java:
                #expect(data["refundedAt"] == nil)
                #expect(reply.json.objectValue?.keys == ["status", "message", "data", "timestamp"])
            }
            #expect(reply.headers[.requestID] != nil)
        }
    }

    @Test(arguments: Flavour.allCases)
    func nullsAreWrittenOnlyByThePythonFlavour(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0"]).application.test(.router) { client in
            let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let data = try #require(reply.data?.objectValue)
            switch flavour {
            case .python:
                #expect(data["transaction_id"] == .null)
                #expect(data["book_id"] == .null)
            case .java:
                #expect(data["transactionId"] == nil)
                #expect(data["bookId"] == nil)
                #expect(!reply.text.contains("null"))
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func aDeclinedPaymentIs402WithThePayment(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0"]).application.test(.router) { client in
            let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            #expect(reply.status.code == 402)
            try expectConforms(reply, flavour, .post, "/api/payments")
            #expect(reply.json["status"] == "error")
            #expect(reply.json["message"] == "Payment declined by gateway")
            #expect(reply.data?[flavour.key("status")]?.stringValue == flavour.status("failed"))
            #expect(reply.data?["message"] == "Payment declined by gateway")
        }
    }

    @Test(arguments: Flavour.allCases)
    func getsAPaymentById(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)

            let reply = try await client.send(.get, "/api/payments/\(id)", token: token)
            #expect(reply.status == .ok)
            try expectConforms(reply, flavour, .get, "/api/payments/\(id)")
            #expect(reply.data == created.data)

            let upper = try await client.send(.get, "/api/payments/\(id.uppercased())", token: token)
            #expect(upper.status == .ok)

            for path in ["/api/payments/\(UUID().uuidString.lowercased())", "/api/payments/not-a-uuid", "/api/payments/\(id)x"] {
                let missing = try await client.send(.get, path, token: token)
                #expect(missing.status == .notFound, "\(path)")
                try expectConforms(missing, flavour, .get, path)
                #expect(missing.json["status"]?.stringValue == (flavour == .python ? "not_found" : "error"))
            }
        }
    }

    @Test(arguments: Flavour.allCases)
    func listsAUsersPaymentsNewestFirst(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let other = self.tokens.user("user-2")
        try await flavour.build().application.test(.router) { client in
            var ids: [String] = []
            for index in 1...5 {
                let reply = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(orderID: "order-\(index)"))
                ids.append(try #require(reply.data?[flavour.key("payment_id")]?.stringValue))
            }
            try await client.send(.post, "/api/payments", token: other, json: flavour.paymentBody(orderID: "x", userID: "user-2"))

            let first = try await client.send(.get, "/api/payments/user/user-1?page=1&limit=2", token: token)
            #expect(first.status == .ok)
            try expectConforms(first, flavour, .get, "/api/payments/user/user-1?page=1&limit=2")
            #expect(first.data?["total"] == 5)
            #expect(first.data?["page"] == 1)
            #expect(first.data?["limit"] == 2)
            let firstIDs = first.data?["payments"]?.arrayValue?.compactMap { $0[flavour.key("payment_id")]?.stringValue }
            #expect(firstIDs == [ids[4], ids[3]])

            let last = try await client.send(.get, "/api/payments/user/user-1?page=3&limit=2", token: token)
            #expect(last.data?["payments"]?.arrayValue?.compactMap { $0[flavour.key("payment_id")]?.stringValue } == [ids[0]])

            let defaults = try await client.send(.get, "/api/payments/user/user-1", token: token)
            #expect(defaults.data?["page"] == 1)
            #expect(defaults.data?["limit"] == 20)
            #expect(defaults.data?["payments"]?.arrayValue?.count == 5)

            let beyond = try await client.send(.get, "/api/payments/user/user-1?page=9", token: token)
            #expect(beyond.data?["payments"] == .array([]))
            #expect(beyond.data?["total"] == 5)

            for query in ["page=0", "page=-1", "page=x", "limit=0", "limit=101", "limit=1.5"] {
                let bad = try await client.send(.get, "/api/payments/user/user-1?\(query)", token: token)
                #expect(bad.status == .badRequest, "\(query)")
                try expectConforms(bad, flavour, .get, "/api/payments/user/user-1?\(query)")
            }
            let badUser = try await client.send(.get, "/api/payments/user/\(String(repeating: "u", count: 101))", token: self.tokens.admin())
            #expect(badUser.status == .badRequest)
        }
    }

    @Test(arguments: Flavour.allCases)
    func refundsACompletedPaymentOnce(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)

            let refund = try await client.send(.post, "/api/payments/\(id)/refund", token: token)
            #expect(refund.status == .ok)
            try expectConforms(refund, flavour, .post, "/api/payments/\(id)/refund")
            #expect(refund.data?[flavour.key("payment_id")]?.stringValue == id)
            #expect(refund.data?["status"]?.stringValue == flavour.status("refunded"))
            let refundedAt = try #require(refund.data?[flavour.key("refunded_at")]?.stringValue)
            #expect(Timestamp.parse(refundedAt) != nil)

            let again = try await client.send(.post, "/api/payments/\(id)/refund", token: token)
            #expect(again.status == .conflict)
            try expectConforms(again, flavour, .post, "/api/payments/\(id)/refund")

            let fetched = try await client.send(.get, "/api/payments/\(id)", token: token)
            #expect(fetched.data?["status"]?.stringValue == flavour.status("refunded"))
            #expect(fetched.data?[flavour.key("refunded_at")]?.stringValue == refundedAt)

            let unknown = try await client.send(.post, "/api/payments/\(UUID().uuidString)/refund", token: token)
            #expect(unknown.status == .notFound)
            try expectConforms(unknown, flavour, .post, "/api/payments/x/refund")
        }
    }

    @Test(arguments: Flavour.allCases)
    func aFailedPaymentCannotBeRefunded(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build(["PAYMENT_SUCCESS_RATE": "0"]).application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)
            let refund = try await client.send(.post, "/api/payments/\(id)/refund", token: token)
            #expect(refund.status == .conflict)
            #expect(refund.json["message"] == "Only completed payments can be refunded (status: failed)")
            try expectConforms(refund, flavour, .post, "/api/payments/\(id)/refund")
        }
    }

    @Test(arguments: Flavour.allCases)
    func concurrentRefundsSucceedOnce(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await client.send(.post, "/api/payments/\(id)/refund", token: token).status.code }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 409 }.count == 9)
        }
    }

    @Test(arguments: Flavour.allCases)
    func validatesCardDetails(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let names = flavour == .python ? ["card_number", "cvv", "expiry_date"] : ["cardNumber", "cvv", "expiryDate"]
        @Sendable func body(_ number: String, _ cvv: String, _ expiry: String) -> JSON {
            [names[0]: .string(number), names[1]: .string(cvv), names[2]: .string(expiry)]
        }
        let now = utcYearMonth(Date())
        let thisMonth = String(format: "%02d/%02d", now.month, now.year % 100)
        let lastMonthDate = utcYearMonth(Calendar(identifier: .gregorian).date(byAdding: .month, value: -1, to: Date())!)
        let lastMonth = String(format: "%02d/%02d", lastMonthDate.month, lastMonthDate.year % 100)
        try await flavour.build().application.test(.router) { client in
            for json in [body(validCard, "123", futureExpiry()), body("4111-1111-1111-1111", "1234", thisMonth)] {
                let valid = try await client.send(.post, "/api/payments/validate", token: token, json: json)
                #expect(valid.status == .ok, "\(valid.text)")
                #expect(valid.data == ["valid": true])
                try expectConforms(valid, flavour, .post, "/api/payments/validate")
            }

            let invalid = try await client.send(.post, "/api/payments/validate", token: token, json: body("4111111111111112", "12", "13/30"))
            #expect(invalid.status == .badRequest)
            try expectConforms(invalid, flavour, .post, "/api/payments/validate")
            #expect(invalid.data == ["valid": false])
            let errors = try #require(invalid.json["errors"]?.arrayValue)
            #expect(errors.count == 3)
            switch flavour {
            case .python:
                #expect(invalid.json["status"] == "validation_error")
                #expect(errors.compactMap { $0["field"]?.stringValue } == names)
            case .java:
                #expect(invalid.json["status"] == "error")
                #expect(errors.compactMap(\.stringValue).allSatisfy { message in names.contains { message.hasPrefix($0) } })
            }

            let expired = try await client.send(.post, "/api/payments/validate", token: token, json: body(validCard, "123", lastMonth))
            #expect(expired.status == .badRequest)
            #expect(expired.text.contains("expired"))

            let missing = try await client.send(.post, "/api/payments/validate", token: token, json: [:])
            #expect(missing.status == .badRequest)
            #expect(missing.json["errors"]?.arrayValue?.count == 3)
            try expectConforms(missing, flavour, .post, "/api/payments/validate")

            let wrongType = try await client.send(
                .post,
                "/api/payments/validate",
                token: token,
                json: [names[0]: 4_111_111_111_111_111, names[1]: 123]
            )
            #expect(wrongType.status == .badRequest)

            let malformed = try await client.send(.post, "/api/payments/validate", token: token, body: "{")
            #expect(malformed.status == .badRequest)
            try expectConforms(malformed, flavour, .post, "/api/payments/validate")
        }
    }

    @Test(arguments: Flavour.allCases)
    func cardFieldsOnAPaymentAreValidatedButNeverStored(_ flavour: Flavour) async throws {
        let token = self.tokens.user()
        let names = flavour == .python ? ["card_number", "cvv", "expiry_date"] : ["cardNumber", "cvv", "expiryDate"]
        try await flavour.build().application.test(.router) { client in
            let good = flavour.paymentBody(extra: [names[0]: .string(validCard), names[1]: "123", names[2]: .string(futureExpiry())])
            let reply = try await client.send(.post, "/api/payments", token: token, json: good)
            #expect(reply.status == flavour.createdStatus)
            #expect(!reply.text.contains("4111"))
            #expect(!reply.text.contains(names[0]))

            let bad = flavour.paymentBody(orderID: "order-2", extra: [names[0]: "1234567890123", names[1]: "1"])
            let rejected = try await client.send(.post, "/api/payments", token: token, json: bad)
            #expect(rejected.status == .badRequest)
            #expect(rejected.json["errors"]?.arrayValue?.count == 2)
            try expectConforms(rejected, flavour, .post, "/api/payments")
        }
    }

    @Test(arguments: Flavour.allCases)
    func unknownRoutesAre404InTheEnvelope(_ flavour: Flavour) async throws {
        try await flavour.build().application.test(.router) { client in
            let reply = try await client.send(.get, "/api/nothing-here")
            #expect(reply.status == .notFound)
            #expect(reply.json["status"]?.stringValue == (flavour == .python ? "not_found" : "error"))
            #expect(reply.json["timestamp"]?.stringValue != nil)
        }
    }

    @Test func pythonRoutesAcceptATrailingSlash() async throws {
        let token = self.tokens.user()
        try await Flavour.python.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments/", token: token, json: Flavour.python.paymentBody())
            #expect(created.status == .ok)
            let id = try #require(created.data?["payment_id"]?.stringValue)
            #expect(try await client.send(.get, "/api/payments/\(id)/", token: token).status == .ok)
            #expect(try await client.send(.get, "/api/payments/user/user-1/", token: token).data?["total"] == 1)
            #expect(try await client.send(.post, "/api/payments/\(id)/refund/", token: token).status == .ok)
            let validate = try await client.send(
                .post,
                "/api/payments/validate/",
                token: token,
                json: ["card_number": .string(validCard), "cvv": "123", "expiry_date": .string(futureExpiry())]
            )
            #expect(validate.status == .ok)
            #expect(try await client.send(.get, "/api/health/").status == .ok)
        }
    }
}
