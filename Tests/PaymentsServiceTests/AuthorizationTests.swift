import BookstoreCore
import BookstoreTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import JSONKit
import PaymentsService
import Testing

/// Every payment route needs a valid token, and users act only for themselves (admins for anyone).
@Suite struct AuthorizationTests {
    let tokens: TestTokens

    init() {
        self.tokens = TestTokens(secret: testSecret)
    }

    /// Every protected operation, with a body where it takes one.
    func operations(_ flavour: Flavour, paymentID: String) -> [(HTTPRequest.Method, String, JSON?)] {
        [
            (.post, "/api/payments", flavour.paymentBody()),
            (.get, "/api/payments/\(paymentID)", nil),
            (.get, "/api/payments/user/user-1", nil),
            (.post, "/api/payments/\(paymentID)/refund", nil),
            (.post, "/api/payments/validate", [flavour.key("card_number"): .string(validCard), "cvv": "123", flavour.key("expiry_date"): "12/99"]),
        ]
    }

    /// Tokens no service should accept.
    func badTokens() async throws -> [String: String] {
        let expired = self.tokens.user(now: Date().addingTimeInterval(-3 * 24 * 3600))
        let forger = TestTokens(secret: "another-secret-of-sufficient-length-000")
        let forged = forger.token(for: Identity(userID: "user-1", username: "u", email: "u@example.com", roles: [Identity.adminRole]))
        let hs256 = TestTokens(secret: testSecret, algorithm: .hs256)
        let confused = hs256.token(for: Identity(userID: "user-1", username: "u", email: "u@example.com", roles: []))
        let valid = self.tokens.user()
        let parts = valid.split(separator: ".")
        let noneHeader = Base64URL.encode(#"{"alg":"none","typ":"JWT"}"#.utf8)
        let tampered = parts[0] + "." + parts[1] + "x." + parts[2]
        return [
            "expired": expired,
            "forged": forged,
            "algorithm confusion": confused,
            "alg none": "\(noneHeader).\(parts[1]).",
            "alg none with signature": "\(noneHeader).\(parts[1]).\(parts[2])",
            "tampered payload": String(tampered),
            "garbage": "not.a.token",
            "empty": "",
        ]
    }

    @Test(arguments: Flavour.allCases)
    func everyOperationRejectsMissingAndBadTokens(_ flavour: Flavour) async throws {
        let bad = try await self.badTokens()
        let token = self.tokens.user()
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: token, json: flavour.paymentBody(orderID: "o"))
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)
            for (method, path, body) in self.operations(flavour, paymentID: id) {
                let missing = try await client.send(method, path, json: body)
                #expect(missing.status == .unauthorized, "\(method) \(path)")
                #expect(missing.headers[.wwwAuthenticate] == "Bearer")
                try expectConforms(missing, flavour, method, path)
                #expect(missing.json["status"]?.stringValue == (flavour == .python ? "unauthorized" : "error"))
                let basic = try await client.send(method, path, json: body, headers: [.authorization: "Basic dXNlcjpwYXNz"])
                #expect(basic.status == .unauthorized)
                for (name, value) in bad {
                    let reply = try await client.send(method, path, token: value, json: body)
                    #expect(reply.status == .unauthorized, "\(name): \(method) \(path)")
                    try expectConforms(reply, flavour, method, path)
                }
            }
            let expired = try await client.send(.get, "/api/payments/user/user-1", token: bad["expired", default: ""])
            #expect(expired.json["message"] == "Token expired")
            // Nothing was charged by the rejected requests.
            #expect(try await client.send(.get, "/api/payments/user/user-1", token: token).data?["total"] == 1)
        }
    }

    @Test(arguments: Flavour.allCases)
    func usersActOnlyForThemselves(_ flavour: Flavour) async throws {
        let alice = self.tokens.user("user-1")
        let bob = self.tokens.user("user-2")
        let admin = self.tokens.admin()
        try await flavour.build().application.test(.router) { client in
            let created = try await client.send(.post, "/api/payments", token: alice, json: flavour.paymentBody())
            let id = try #require(created.data?[flavour.key("payment_id")]?.stringValue)

            // Paying for another user.
            let forOther = try await client.send(.post, "/api/payments", token: bob, json: flavour.paymentBody(orderID: "o2", userID: "user-1"))
            #expect(forOther.status == .forbidden)
            try expectConforms(forOther, flavour, .post, "/api/payments")
            #expect(forOther.json["status"]?.stringValue == (flavour == .python ? "forbidden" : "error"))

            // Reading, listing and refunding another user's payments.
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/payments/\(id)"), (.get, "/api/payments/user/user-1"), (.post, "/api/payments/\(id)/refund"),
            ] {
                let reply = try await client.send(method, path, token: bob)
                #expect(reply.status == .forbidden, "\(method) \(path)")
                try expectConforms(reply, flavour, method, path)
            }

            // Admins may do all of it.
            let adminPays = try await client.send(.post, "/api/payments", token: admin, json: flavour.paymentBody(orderID: "o3", userID: "user-2"))
            #expect(adminPays.status == flavour.createdStatus)
            #expect(try await client.send(.get, "/api/payments/\(id)", token: admin).status == .ok)
            #expect(try await client.send(.get, "/api/payments/user/user-1", token: admin).data?["total"] == 1)
            #expect(try await client.send(.get, "/api/payments/user/user-2", token: admin).data?["total"] == 1)
            #expect(try await client.send(.post, "/api/payments/\(id)/refund", token: admin).status == .ok)
            // Bob sees the payment the admin made for him.
            #expect(try await client.send(.get, "/api/payments/user/user-2", token: bob).data?["total"] == 1)
        }
    }
}
