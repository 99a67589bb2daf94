import Foundation
import JSONKit

extension ContractsSuite {
    /// The payment operations of one flavour through its gateway prefix (`/api/payments-python`, `/api/payments-java`).
    static func paymentChecks(_ flavour: PaymentFlavour) -> [Check] {
        let prefix = flavour.prefix
        let tag = flavour.tag
        var checks: [Check] = [
            self.check(
                "API-PAY\(tag)-CREATE-\(flavour.createdStatus)",
                "POST \(prefix) charges a payment: \(flavour.createdStatus) with the completed payment"
            ) {
                context in
                let alice = try await context.user("alice")
                let (response, payment) = try await context.payment(flavour, for: alice)
                try context.expectContract(response, status: flavour.createdStatus)
                try context.require(
                    payment[flavour.key("user_id")]?.stringValue == alice.id && payment["status"]?.stringValue == flavour.status("completed")
                        && (payment[flavour.key("transaction_id")]?.stringValue ?? "").hasPrefix("TXN-"),
                    expected: "a \(flavour.status("completed")) payment of \(alice.id) with a TXN- transaction id",
                    seen: payment.text
                )
            },
            self.check("API-PAY\(tag)-CREATE-402", "A payment declined by the processor answers 402 with the failed payment") { context in
                let alice = try await context.user("alice")
                let (response, payment) = try await context.payment(flavour, for: alice, declined: true)
                try context.expectContract(response, status: 402)
                try context.require(
                    payment["status"]?.stringValue == flavour.status("failed") && payment["message"] == "Payment declined by gateway",
                    expected: "status \(flavour.status("failed")) and message 'Payment declined by gateway'",
                    seen: payment.text
                )
            },
            self.check(
                "API-PAY\(tag)-CREATE-400",
                "Invalid payment requests answer 400 (amount 0, 3 decimals, bad currency, bad method, bad card, wrong types)"
            ) {
                context in
                let alice = try await context.user("alice")
                let order = await context.uniqueName("order")
                let valid = context.paymentBody(flavour, orderID: order, userID: alice.id).objectValue ?? [:]
                let cases: [(String, JSON?, String)] = [
                    (flavour.key("amount"), .number("0"), "amount 0"),
                    (flavour.key("amount"), .number("10.001"), "three decimals"),
                    (flavour.key("amount"), .number("1000000.01"), "amount above 1,000,000"),
                    (flavour.key("amount"), "19.99", "amount as a string"),
                    (flavour.key("currency"), "JPY", "currency JPY"),
                    (flavour.key("payment_method"), "cash", "payment method cash"),
                    (flavour.key("order_id"), "bad id!", "order id with spaces"),
                    (flavour.key("order_id"), nil, "no order id"),
                    (flavour.key("card_number"), "4111 1111 1111 1112", "a card failing Luhn"),
                    (flavour.key("expiry_date"), "01/20", "an expired card"),
                    (flavour.key("cvv"), "12", "a 2-digit cvv"),
                ]
                for (key, value, label) in cases {
                    var body = valid
                    body[key] = value
                    let response = try await context.http.post(prefix, json: .object(body), token: alice.token)
                    try context.expectContract(response, status: 400, because: label)
                }
            },
            self.check("API-PAY\(tag)-CREATE-401", "POST \(prefix) without a token answers 401") { context in
                let body = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: "someone")
                try context.expectContract(try await context.http.post(prefix, json: body), status: 401)
            },
            self.check("API-PAY\(tag)-CREATE-403", "POST \(prefix) for another user's id answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let body = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: bob.id)
                try context.expectContract(try await context.http.post(prefix, json: body, token: alice.token), status: 403)
            },
            self.check("API-PAY\(tag)-IDEMPOTENT-REPLAY", "A repeated Idempotency-Key returns the first payment instead of charging twice") {
                context in
                let alice = try await context.user("alice")
                let key = "idem-\(context.options.runID)-\(UUID().uuidString.lowercased())"
                let body = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: alice.id)
                let first = try await context.http.post(prefix, json: body, token: alice.token, headers: [("Idempotency-Key", key)])
                try context.expectStatus(first, flavour.createdStatus, 402)
                try context.expectConforms(first)
                let second = try await context.http.post(prefix, json: body, token: alice.token, headers: [("Idempotency-Key", key)])
                try context.expectStatus(second, first.status, because: "the replay answers like the first request")
                try context.expectConforms(second)
                let ids = [first, second].map { $0.json?["data"]?[flavour.idKey]?.stringValue }
                try context.require(ids[0] != nil && ids[0] == ids[1], expected: "the same payment id twice", seen: "\(ids)")
            },
            self.check("API-PAY\(tag)-IDEMPOTENCY-409", "The same Idempotency-Key with a different body answers 409") { context in
                let alice = try await context.user("alice")
                let key = "idem-\(context.options.runID)-\(UUID().uuidString.lowercased())"
                let body = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: alice.id)
                let first = try await context.http.post(prefix, json: body, token: alice.token, headers: [("Idempotency-Key", key)])
                try context.expectStatus(first, flavour.createdStatus, 402)
                let other = context.paymentBody(flavour, orderID: await context.uniqueName("order"), userID: alice.id, amount: "5.00")
                let second = try await context.http.post(prefix, json: other, token: alice.token, headers: [("Idempotency-Key", key)])
                try context.expectContract(second, status: 409)
            },
            self.check("API-PAY\(tag)-GET-200", "GET \(prefix)/{id} answers the owner's payment") { context in
                let alice = try await context.user("alice")
                let (_, payment) = try await context.payment(flavour, for: alice)
                let id = payment[flavour.idKey]?.stringValue ?? ""
                let response = try await context.http.get("\(prefix)/\(id)", token: alice.token)
                try context.expectContract(response, status: 200)
                try context.require(
                    response.json?["data"]?[flavour.idKey]?.stringValue == id,
                    expected: "the payment \(id)",
                    seen: response.excerpt
                )
            },
            self.check("API-PAY\(tag)-GET-404", "GET \(prefix)/{id} of an unknown payment answers 404") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.get("\(prefix)/\(self.unknownID)", token: alice.token), status: 404)
            },
            self.check("API-PAY\(tag)-GET-403", "GET \(prefix)/{id} of another user's payment answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let (_, payment) = try await context.payment(flavour, for: alice)
                let id = payment[flavour.idKey]?.stringValue ?? ""
                try context.expectContract(try await context.http.get("\(prefix)/\(id)", token: bob.token), status: 403)
            },
            self.check("API-PAY\(tag)-LIST-200", "GET \(prefix)/user/{id} pages the user's payments newest first") { context in
                let user = try await context.freshUser("payer")
                var ids: [String] = []
                for _ in 0..<3 {
                    let (_, payment) = try await context.payment(flavour, for: user)
                    ids.append(payment[flavour.idKey]?.stringValue ?? "")
                }
                let response = try await context.http.get("\(prefix)/user/\(user.id)?page=1&limit=2", token: user.token)
                try context.expectContract(response, status: 200)
                let data = response.json?["data"]
                let listed = data?["payments"]?.arrayValue?.compactMap { $0[flavour.idKey]?.stringValue } ?? []
                try context.require(
                    data?["total"]?.intValue ?? 0 >= 3 && listed.count == 2,
                    expected: "total ≥ 3 and 2 payments on page 1 with limit 2",
                    seen: "total \(data?["total"]?.text ?? "none"), \(listed.count) listed"
                )
                try context.require(
                    listed.first == ids.last,
                    expected: "the newest payment \(ids.last ?? "") first",
                    seen: listed.first ?? "none"
                )
            },
            self.check("API-PAY\(tag)-LIST-400", "GET \(prefix)/user/{id} with page 0 or limit 101 answers 400") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.get("\(prefix)/user/\(alice.id)?page=0", token: alice.token), status: 400)
                try context.expectContract(try await context.http.get("\(prefix)/user/\(alice.id)?limit=101", token: alice.token), status: 400)
            },
            self.check("API-PAY\(tag)-LIST-403", "GET \(prefix)/user/{id} of another user answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                try context.expectContract(try await context.http.get("\(prefix)/user/\(bob.id)", token: alice.token), status: 403)
            },
            self.check("API-PAY\(tag)-REFUND-200", "POST \(prefix)/{id}/refund refunds a completed payment; a second refund answers 409") { context in
                let alice = try await context.user("alice")
                let (_, payment) = try await context.payment(flavour, for: alice)
                let id = payment[flavour.idKey]?.stringValue ?? ""
                let refund = try await context.http.post("\(prefix)/\(id)/refund", token: alice.token)
                try context.expectContract(refund, status: 200)
                try context.require(
                    refund.json?["data"]?["status"]?.stringValue == flavour.status("refunded"),
                    expected: "status \(flavour.status("refunded"))",
                    seen: refund.excerpt
                )
                try context.expectContract(try await context.http.post("\(prefix)/\(id)/refund", token: alice.token), status: 409)
                let after = try await context.http.get("\(prefix)/\(id)", token: alice.token)
                try context.expectContract(after, status: 200)
                try context.require(
                    after.json?["data"]?["status"]?.stringValue == flavour.status("refunded"),
                    expected: "the payment read back as \(flavour.status("refunded"))",
                    seen: after.excerpt
                )
            },
            self.check("API-PAY\(tag)-REFUND-409", "Refunding a declined payment answers 409") { context in
                let alice = try await context.user("alice")
                let (_, payment) = try await context.payment(flavour, for: alice, declined: true)
                let id = payment[flavour.idKey]?.stringValue ?? ""
                try context.expectContract(try await context.http.post("\(prefix)/\(id)/refund", token: alice.token), status: 409)
            },
            self.check("API-PAY\(tag)-REFUND-404", "Refunding an unknown payment answers 404") { context in
                let alice = try await context.user("alice")
                try context.expectContract(try await context.http.post("\(prefix)/\(self.unknownID)/refund", token: alice.token), status: 404)
            },
            self.check("API-PAY\(tag)-REFUND-403", "Refunding another user's payment answers 403") { context in
                let alice = try await context.user("alice")
                let bob = try await context.user("bob")
                let (_, payment) = try await context.payment(flavour, for: alice)
                let id = payment[flavour.idKey]?.stringValue ?? ""
                try context.expectContract(try await context.http.post("\(prefix)/\(id)/refund", token: bob.token), status: 403)
            },
            self.check("API-PAY\(tag)-VALIDATE-200", "POST \(prefix)/validate accepts a Luhn-valid card with a future expiry") { context in
                let alice = try await context.user("alice")
                let body: JSON = [
                    flavour.key("card_number"): "4111-1111-1111-1111", flavour.key("cvv"): "123",
                    flavour.key("expiry_date"): .string(CheckContext.futureExpiry),
                ]
                let response = try await context.http.post("\(prefix)/validate", json: body, token: alice.token)
                try context.expectContract(response, status: 200)
                try context.require(response.json?["data"]?["valid"] == true, expected: "data.valid true", seen: response.excerpt)
            },
            self.check("API-PAY\(tag)-VALIDATE-400", "POST \(prefix)/validate refuses a bad card (Luhn, cvv, expired, missing fields) with 400") {
                context in
                let alice = try await context.user("alice")
                let bodies: [JSON] = [
                    [flavour.key("card_number"): "4111111111111112", flavour.key("cvv"): "123", flavour.key("expiry_date"): "12/99"],
                    [flavour.key("card_number"): "4111111111111111", flavour.key("cvv"): "1", flavour.key("expiry_date"): "12/99"],
                    [flavour.key("card_number"): "4111111111111111", flavour.key("cvv"): "123", flavour.key("expiry_date"): "01/20"],
                    [flavour.key("card_number"): "4111111111111111"],
                ]
                for body in bodies {
                    let response = try await context.http.post("\(prefix)/validate", json: body, token: alice.token)
                    try context.expectContract(response, status: 400, because: body.text)
                }
            },
            self.check("API-PAY\(tag)-VALIDATE-401", "POST \(prefix)/validate without a token answers 401") { context in
                let body: JSON = [flavour.key("card_number"): "4111111111111111", flavour.key("cvv"): "123", flavour.key("expiry_date"): "12/99"]
                try context.expectContract(try await context.http.post("\(prefix)/validate", json: body), status: 401)
            },
        ]
        switch flavour {
        case .python:
            checks.append(
                self.check("API-PAYPY-TRAILING-SLASH", "Flask-style routes answer with and without a trailing slash, without redirects") { context in
                    let alice = try await context.user("alice")
                    let body = context.paymentBody(.python, orderID: await context.uniqueName("order"), userID: alice.id)
                    let created = try await context.http.post("\(prefix)/", json: body, token: alice.token)
                    try context.expectStatus(created, 200, 402)
                    try context.expectConforms(created)
                    let id = created.json?["data"]?["payment_id"]?.stringValue ?? ""
                    try context.expectContract(try await context.http.get("\(prefix)/\(id)/", token: alice.token), status: 200)
                    try context.expectContract(try await context.http.get("\(prefix)/user/\(alice.id)/", token: alice.token), status: 200)
                    try context.expectContract(try await context.http.get("\(prefix)/health/"), status: 200)
                }
            )
            checks.append(
                self.check(
                    "API-PAYPY-HEALTH",
                    "GET /api/payments-python/health, /health/live and /health/ready answer the service's health documents"
                ) {
                    context in
                    let health = try await context.http.get("\(prefix)/health")
                    try context.expectContract(health, status: 200)
                    try context.require(
                        health.json?["service"] == "payment-service-python",
                        expected: "service payment-service-python",
                        seen: health.excerpt
                    )
                    try context.expectContract(try await context.http.get("\(prefix)/health/live"), status: 200)
                    try context.expectContract(try await context.http.get("\(prefix)/health/ready"), status: 200)
                }
            )
        case .java:
            checks.append(
                self.check(
                    "API-PAYJAVA-ACTUATOR",
                    "The Java flavour's actuator (health, liveness, readiness, info, prometheus) answers through the gateway"
                ) {
                    context in
                    for path in ["/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness", "/actuator/info"] {
                        try context.expectContract(try await context.http.get("\(prefix)\(path)"), status: 200)
                    }
                    let metrics = try await context.http.get("\(prefix)/actuator/prometheus", record: false)
                    try context.expectContract(metrics, status: 200)
                    try context.require(
                        String(decoding: metrics.body, as: UTF8.self).contains("http_requests_total"),
                        expected: "http_requests_total in /actuator/prometheus",
                        seen: "\(metrics.body.count) bytes without it"
                    )
                }
            )
            checks.append(
                self.check("API-PAYJAVA-MONEY-FORMAT", "The Java flavour writes money with exactly two decimals and enums in upper case") { context in
                    let alice = try await context.user("alice")
                    let body = context.paymentBody(.java, orderID: await context.uniqueName("order"), userID: alice.id, amount: "20")
                    let response = try await context.http.post(prefix, json: body, token: alice.token)
                    try context.expectStatus(response, 201, 402)
                    try context.expectConforms(response)
                    let text = String(decoding: response.body, as: UTF8.self)
                    try context.require(
                        text.contains(#""amount":20.00"#) && text.contains(#""paymentMethod":"CREDIT_CARD""#),
                        expected: #""amount":20.00 and "paymentMethod":"CREDIT_CARD" in the body"#,
                        seen: response.excerpt
                    )
                }
            )
        }
        return checks
    }
}
