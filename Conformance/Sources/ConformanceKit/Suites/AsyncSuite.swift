import Foundation
import JSONKit

/// async: events observed on temporary queues bound to the exchanges through the RabbitMQ management API (payload,
/// properties, headers, latency); request/response over `payment_requests` with correlation ids; a poison message
/// parked in the dead-letter queue; no loss and no duplicates over N requests; and the cross-service effects of
/// events seen through HTTP (a review turns verified after `payment.completed`, a deleted user's reviews go away).
public enum AsyncSuite {
    public static var checks: [Check] {
        self.eventChecks + self.requestChecks + self.effectChecks
    }

    static func check(
        _ id: String,
        _ summary: String,
        requires: Set<Capability> = [.http, .amqpManagement],
        timeLimit: Duration = .seconds(120),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) -> Check {
        Check(id, suite: .async, summary, requires: requires, timeLimit: timeLimit, body: body)
    }

    /// A W3C `traceparent`: version, 32-hex trace id, 16-hex parent id, flags.
    static func isTraceparent(_ text: String) -> Bool {
        text.wholeMatch(of: #/[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/#) != nil
    }

    // MARK: Helpers

    static func rabbit(_ context: CheckContext) throws -> RabbitManagementClient {
        guard let endpoint = context.endpoints.rabbitManagement else { throw CheckSkip("no RabbitMQ management API") }
        return RabbitManagementClient(endpoint: endpoint, driver: context.http)
    }

    /// Runs `body` with a temporary queue bound to `bindings`, deleting the queue afterwards.
    static func withQueue<T: Sendable>(
        _ context: CheckContext,
        _ label: String,
        bindings: [(exchange: String, key: String)],
        _ body: (RabbitManagementClient, String) async throws -> T
    ) async throws -> T {
        let rabbit = try self.rabbit(context)
        let queue = "conformance.\(context.options.runID).\(label).\(UUID().uuidString.prefix(8).lowercased())"
        try await rabbit.declareTemporaryQueue(queue)
        do {
            for binding in bindings { try await rabbit.bind(queue: queue, exchange: binding.exchange, routingKey: binding.key) }
            let result = try await body(rabbit, queue)
            try? await rabbit.deleteQueue(queue)
            return result
        } catch {
            try? await rabbit.deleteQueue(queue)
            throw error
        }
    }

    /// Drains `queue` until `done` holds for everything received, or the budget runs out.
    static func collect(
        _ rabbit: RabbitManagementClient,
        _ queue: String,
        budget: Duration,
        until done: ([ManagementMessage]) -> Bool
    ) async throws -> (messages: [ManagementMessage], elapsed: Duration, complete: Bool) {
        var messages: [ManagementMessage] = []
        let result = try await Polling.until(budget: budget, interval: .milliseconds(100)) { () -> Bool? in
            messages += try await rabbit.get(queue, count: 500)
            return done(messages) ? true : nil
        }
        return (messages, result?.elapsed ?? budget, result != nil)
    }

    /// Checks the SPEC §6 properties of an event: ids, content type, persistence, timestamp, request id and trace.
    static func checkProperties(_ message: ManagementMessage, requestID: String?, context: CheckContext) throws {
        let label = "the \(message.routingKey) message"
        try context.require(!(message.messageID ?? "").isEmpty, expected: "a message_id on \(label)", seen: "none")
        try context.require(!(message.correlationID ?? "").isEmpty, expected: "a correlation_id on \(label)", seen: "none")
        try context.require(
            message.contentType?.hasPrefix("application/json") == true,
            expected: "content_type application/json on \(label)",
            seen: message.contentType ?? "none"
        )
        try context.require(
            message.deliveryMode == 2,
            expected: "a persistent \(label) (delivery_mode 2)",
            seen: "\(message.deliveryMode.map(String.init) ?? "none")"
        )
        try context.require(message.timestamp != nil, expected: "a timestamp property on \(label)", seen: "none")
        if let requestID {
            try context.require(
                message.header("X-Request-ID") == requestID,
                expected: "header X-Request-ID \(requestID) on \(label)",
                seen: message.header("X-Request-ID") ?? "none"
            )
        }
        let trace = message.header("traceparent") ?? ""
        try context.require(
            self.isTraceparent(trace),
            expected: "a W3C traceparent header on \(label)",
            seen: trace.isEmpty ? "none" : trace
        )
    }

    /// The amount the fixture payments are sent with (``CheckContext/paymentBody(_:orderID:userID:amount:bookID:)``).
    static let sentAmount = "19.99"

    /// Whether an event's amount is the one sent (as a number or a decimal string, any number of trailing zeros):
    /// compared with what the check sent, not with what the target echoed.
    static func isSentAmount(_ value: JSON?) -> Bool {
        let literal: String? =
            switch value {
            case .number(let literal)?: literal
            case .string(let text)?: text
            default: nil
            }
        guard let literal, let amount = Decimal(string: literal) else { return false }
        return amount == Decimal(string: Self.sentAmount)
    }

    // MARK: Events from HTTP actions

    static var eventChecks: [Check] {
        PaymentFlavour.allCases.map { flavour in
            self.check(
                "ASYNC-PAY\(flavour.tag)-COMPLETED-EVENT",
                "A completed payment through \(flavour.prefix) publishes payment.completed on payment_exchange with the payment, ids, X-Request-ID and traceparent"
            ) { context in
                let user = try await context.user("alice")
                try await self.withQueue(context, "paid", bindings: [("payment_exchange", "payment.#")]) { rabbit, queue in
                    let requestID = "conformance-\(UUID().uuidString.lowercased())"
                    let (response, payment) = try await context.payment(flavour, for: user, headers: [("X-Request-ID", requestID)])
                    let sent = ContinuousClock.now - .nanoseconds(Int64(response.duration.asSeconds * 1e9))
                    let orderID = payment[flavour.key("order_id")]?.stringValue ?? ""
                    func matches(_ message: ManagementMessage) -> Bool {
                        guard message.routingKey == "payment.completed", let json = message.json else { return false }
                        return (json["data"]?["order_id"] ?? json["orderId"])?.stringValue == orderID
                    }
                    let (messages, _, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) {
                        $0.contains(where: matches)
                    }
                    let latency = ContinuousClock.now - sent
                    guard complete, let event = messages.first(where: matches) else {
                        throw CheckFailure(
                            expected: "payment.completed for order \(orderID) within \(Int(context.options.asyncTimeout.asSeconds)) s",
                            seen: "\(messages.count) other messages: \(messages.prefix(5).map(\.routingKey))"
                        )
                    }
                    context.measure("latency (HTTP request sent → event fetched, upper bound)", "\(Evidence.milliseconds(latency)) ms")
                    context.note("event: \(event.payload.prefix(600)) properties: \(event.properties.text.prefix(600))")
                    try self.checkProperties(event, requestID: requestID, context: context)
                    let json = event.json ?? .null
                    switch flavour {
                    case .python:
                        try context.require(
                            json["event_type"] == "payment.completed" && json["data"]?["payment_id"] == payment["payment_id"]
                                && json["data"]?["status"] == "completed" && json["timestamp"]?.stringValue != nil
                                && Self.isSentAmount(json["data"]?["amount"]) && json["data"]?["user_id"]?.stringValue == user.id
                                && json["data"]?["order_id"]?.stringValue == orderID,
                            expected:
                                "{event_type: payment.completed, service, timestamp, data: the completed payment with the amount (\(Self.sentAmount)), user and order sent}",
                            seen: event.payload
                        )
                    case .java:
                        try context.require(
                            json["eventType"] == "payment.completed" && json["paymentId"] == payment["paymentId"] && json["status"] == "COMPLETED"
                                && (json["transactionId"]?.stringValue ?? "").hasPrefix("TXN-") && Self.isSentAmount(json["amount"])
                                && json["userId"]?.stringValue == user.id && json["orderId"]?.stringValue == orderID,
                            expected:
                                "{eventType: payment.completed, paymentId, orderId, userId, amount, status: COMPLETED, transactionId, …} with the amount (\(Self.sentAmount)), user and order sent",
                            seen: event.payload
                        )
                    }
                }
            }
        }
            + PaymentFlavour.allCases.map { flavour in
                self.check(
                    "ASYNC-PAY\(flavour.tag)-FAILED-EVENT",
                    "A payment declined through \(flavour.prefix) publishes payment.failed on payment_exchange with the failed payment"
                ) { context in
                    let user = try await context.user("alice")
                    try await self.withQueue(context, "declined", bindings: [("payment_exchange", "payment.failed")]) { rabbit, queue in
                        let (_, payment) = try await context.payment(flavour, for: user, declined: true)
                        let paymentID = payment[flavour.idKey]?.stringValue ?? ""
                        // Python nests the payment under `data`; Java's event is the payment.
                        func body(_ message: ManagementMessage) -> JSON? { flavour == .python ? message.json?["data"] : message.json }
                        func matches(_ message: ManagementMessage) -> Bool {
                            message.routingKey == "payment.failed" && body(message)?[flavour.idKey]?.stringValue == paymentID
                        }
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) {
                            $0.contains(where: matches)
                        }
                        guard complete, let event = messages.first(where: matches), let data = body(event) else {
                            throw CheckFailure(
                                expected: "payment.failed for payment \(paymentID) within \(Int(context.options.asyncTimeout.asSeconds)) s",
                                seen: "\(messages.count) other messages: \(messages.prefix(5).map(\.routingKey))"
                            )
                        }
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                        try context.require(
                            data[flavour.statusKey]?.stringValue == flavour.status("failed") && Self.isSentAmount(data[flavour.key("amount")])
                                && data[flavour.key("user_id")]?.stringValue == user.id,
                            expected: "the failed payment: status \(flavour.status("failed")), the amount (\(Self.sentAmount)) and user sent",
                            seen: event.payload
                        )
                    }
                }
            } + [
                self.check("ASYNC-PAYPY-REFUNDED-EVENT", "A refund publishes payment.refunded with the refunded payment") { context in
                    let user = try await context.user("alice")
                    let (_, payment) = try await context.payment(.python, for: user)
                    let id = payment["payment_id"]?.stringValue ?? ""
                    try await self.withQueue(context, "refund", bindings: [("payment_exchange", "payment.refunded")]) { rabbit, queue in
                        try context.expectStatus(try await context.http.post("/api/payments-python/\(id)/refund", token: user.token), 200)
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                            messages.contains { $0.json?["data"]?["payment_id"]?.stringValue == id }
                        }
                        try context.require(
                            complete,
                            expected: "payment.refunded for \(id)",
                            seen: "\(messages.count) messages: \(messages.prefix(3).map(\.payload))"
                        )
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                        let event = messages.first { $0.json?["data"]?["payment_id"]?.stringValue == id }
                        try context.require(
                            event?.json?["data"]?["status"] == "refunded",
                            expected: "data.status refunded",
                            seen: event?.payload ?? ""
                        )
                    }
                },
                self.check("ASYNC-REVIEW-CREATED-EVENT", "Creating a review publishes review.created on review_exchange with the review") { context in
                    let user = try await context.user("alice")
                    try await self.withQueue(context, "review", bindings: [("review_exchange", "review.#")]) { rabbit, queue in
                        let (_, review) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                        let id = review["review_id"]?.stringValue ?? ""
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                            messages.contains { $0.routingKey == "review.created" && $0.payload.contains(id) }
                        }
                        try context.require(complete, expected: "review.created carrying \(id)", seen: "\(messages.map(\.routingKey))")
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                        if let event = messages.first(where: { $0.payload.contains(id) }) {
                            try self.checkProperties(event, requestID: nil, context: context)
                        }
                    }
                },
                self.check("ASYNC-REVIEW-UPDATED-EVENT", "Updating a review publishes review.updated with the updated review") { context in
                    let user = try await context.user("alice")
                    let (_, review) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                    let id = review["review_id"]?.stringValue ?? ""
                    try await self.withQueue(context, "review-updated", bindings: [("review_exchange", "review.updated")]) { rabbit, queue in
                        try context.expectStatus(try await context.http.put("/api/reviews/\(id)", json: ["rating": 2], token: user.token), 200)
                        func matches(_ message: ManagementMessage) -> Bool {
                            message.routingKey == "review.updated" && message.json?["data"]?["review_id"]?.stringValue == id
                        }
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) {
                            $0.contains(where: matches)
                        }
                        guard complete, let event = messages.first(where: matches) else {
                            throw CheckFailure(expected: "review.updated carrying \(id)", seen: "\(messages.map(\.routingKey))")
                        }
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                        try context.require(
                            event.json?["event_type"] == "review.updated" && event.json?["data"]?["rating"] == 2,
                            expected: "{event_type: review.updated, data: the review with its new rating 2}",
                            seen: event.payload
                        )
                    }
                },
                self.check("ASYNC-REVIEW-DELETED-EVENT", "Deleting a review publishes review.deleted naming the review") { context in
                    let user = try await context.user("alice")
                    let (_, review) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                    let id = review["review_id"]?.stringValue ?? ""
                    try await self.withQueue(context, "review-deleted", bindings: [("review_exchange", "review.deleted")]) { rabbit, queue in
                        try context.expectStatus(try await context.http.delete("/api/reviews/\(id)", token: user.token), 200)
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) {
                            $0.contains { $0.routingKey == "review.deleted" && $0.json?["data"]?["review_id"]?.stringValue == id }
                        }
                        try context.require(complete, expected: "review.deleted carrying \(id)", seen: "\(messages.map(\.routingKey))")
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                    }
                },
                self.check("ASYNC-USER-DELETED-EVENT", "Deleting a user publishes user.deleted on user_exchange naming the user") { context in
                    let admin = try await context.admin()
                    let (_, _, user) = try await context.registerFreshUser("gone")
                    let id = user["id"]?.stringValue ?? ""
                    try await self.withQueue(context, "user", bindings: [("user_exchange", "user.#")]) { rabbit, queue in
                        try context.expectStatus(try await context.http.delete("/api/users/\(id)", token: admin.token), 200)
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                            messages.contains { $0.routingKey == "user.deleted" && $0.payload.contains(id) }
                        }
                        try context.require(complete, expected: "user.deleted carrying \(id)", seen: "\(messages.map(\.routingKey))")
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                    }
                },
                self.check(
                    "ASYNC-EVENT-AFTER-CONNECTION-CLOSE",
                    "After the broker closes every client connection, a review created at once and one created after the reconnection both publish review.created"
                ) { context in
                    let user = try await context.user("alice")
                    try await self.withQueue(context, "reconnect", bindings: [("review_exchange", "review.created")]) { rabbit, queue in
                        // A review first, so that the reviews service's publisher is connected (a service may open its
                        // broker connection on first use); its event is not among those awaited below.
                        _ = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                        // The management API lists connections from statistics refreshed every few seconds (5 s by
                        // default), so a first non-empty list can miss connections that are open (it once listed one
                        // of a whole cluster's, and the reviews replicas were never disconnected): the list is taken
                        // once it has held still for longer than that.
                        var open: [String] = []
                        var unchangedSince = ContinuousClock.now
                        _ = try await Polling.until(budget: context.options.asyncTimeout, interval: .milliseconds(500)) { () -> Bool? in
                            let listed = try await rabbit.connections()
                            if Set(listed) != Set(open) {
                                open = listed
                                unchangedSince = .now
                            }
                            return !open.isEmpty && ContinuousClock.now - unchangedSince >= .seconds(6) ? true : nil
                        }
                        guard !open.isEmpty else {
                            throw CheckBlocked(fixture: "GET /api/vhosts/…/connections (the services' broker connections)", seen: "none open")
                        }
                        for name in open { try await rabbit.closeConnection(name, reason: "conformance ASYNC-EVENT-AFTER-CONNECTION-CLOSE") }
                        context.note("closed \(open.count) broker connections")
                        // At once, while the services notice the close and reconnect: an outbox keeps the event; a 503 is
                        // allowed (nothing was accepted), a 201 whose event never arrives is a loss.
                        var accepted: [String] = []
                        let early = try await context.http.post(
                            "/api/reviews",
                            json: context.reviewBody(bookID: await context.uniqueName("book"), userID: user.id, rating: 4),
                            token: user.token
                        )
                        if early.status == 201, let id = early.json?["review_id"]?.stringValue {
                            accepted.append(id)
                        } else {
                            context.note("the review created at once answered \(early.status)")
                        }
                        let back = try await Polling.until(budget: context.options.asyncTimeout, interval: .milliseconds(100)) { () -> Bool? in
                            try await rabbit.connections().count >= open.count ? true : nil
                        }
                        context.measure("reconnected", back.map { "\(Evidence.milliseconds($0.elapsed)) ms" } ?? "not within the budget")
                        let (_, late) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                        accepted.append(late["review_id"]?.stringValue ?? "")
                        let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                            accepted.allSatisfy { id in messages.contains { $0.payload.contains(id) } }
                        }
                        let missing = accepted.filter { id in !messages.contains { $0.payload.contains(id) } }
                        try context.require(
                            complete,
                            expected: "review.created for each accepted review (\(accepted.joined(separator: ", ")))",
                            seen: "none for \(missing.joined(separator: ", ")) in \(messages.count) messages"
                        )
                        context.measure("latency", "\(Evidence.milliseconds(elapsed)) ms")
                    }
                },
            ]
    }

    // MARK: Request/response over payment_requests

    static func paymentRequest(_ context: CheckContext, orderID: String, userID: String) -> String {
        let body: JSON = [
            "order_id": .string(orderID), "user_id": .string(userID), "amount": .number("12.50"), "currency": "EUR",
            "payment_method": "paypal",
        ]
        return body.text
    }

    static func properties(messageID: String, correlationID: String, replyTo: String?, requestID: String) -> JSONObject {
        var properties: JSONObject = [
            "message_id": .string(messageID), "correlation_id": .string(correlationID), "content_type": "application/json",
            "delivery_mode": 2, "headers": ["X-Request-ID": .string(requestID)],
        ]
        if let replyTo { properties["reply_to"] = .string(replyTo) }
        return properties
    }

    static var requestChecks: [Check] {
        [
            self.check(
                "ASYNC-PAYMENT-REQUEST-REPLY",
                "A payment request on payment_requests (routing key payment.request) is answered to reply_to with its correlation id"
            ) {
                context in
                try await self.withQueue(context, "reply", bindings: []) { rabbit, queue in
                    let order = await context.uniqueName("async_order")
                    let correlation = UUID().uuidString.lowercased()
                    let requestID = "conformance-\(UUID().uuidString.lowercased())"
                    let routed = try await rabbit.publish(
                        exchange: "payment_exchange",
                        routingKey: "payment.request",
                        payload: self.paymentRequest(context, orderID: order, userID: "async-user"),
                        properties: self.properties(
                            messageID: UUID().uuidString.lowercased(),
                            correlationID: correlation,
                            replyTo: queue,
                            requestID: requestID
                        )
                    )
                    try context.require(routed, expected: "payment.request routed to a queue (payment_requests bound)", seen: "routed: false")
                    let (messages, elapsed, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                        messages.contains { $0.correlationID == correlation }
                    }
                    guard complete, let reply = messages.first(where: { $0.correlationID == correlation }) else {
                        throw CheckFailure(
                            expected: "a reply with correlation_id \(correlation) on \(queue)",
                            seen: "\(messages.count) other messages"
                        )
                    }
                    context.measure("round trip", "\(Evidence.milliseconds(elapsed)) ms")
                    context.note("reply: \(reply.payload) properties: \(reply.properties.text.prefix(400))")
                    let json = reply.json ?? .null
                    try context.require(
                        json["order_id"]?.stringValue == order && ["completed", "failed"].contains(json["status"]?.stringValue ?? "")
                            && json["payment_id"]?.stringValue != nil && json["message"]?.stringValue != nil && json["timestamp"]?.stringValue != nil,
                        expected: "{order_id: \(order), payment_id, status: completed|failed, message, timestamp}",
                        seen: reply.payload
                    )
                    try context.require(
                        reply.header("X-Request-ID") == requestID,
                        expected: "the request's X-Request-ID on the reply",
                        seen: reply.header("X-Request-ID") ?? "none"
                    )
                }
            },
            self.check(
                "ASYNC-PAYMENT-RESPONSE-DEFAULT",
                "Without reply_to the reply is published with routing key payment.response (the payment_responses queue)"
            ) {
                context in
                try await self.withQueue(context, "responses", bindings: [("payment_exchange", "payment.response")]) { rabbit, queue in
                    let correlation = UUID().uuidString.lowercased()
                    try await rabbit.publish(
                        exchange: "payment_exchange",
                        routingKey: "payment.request",
                        payload: self.paymentRequest(context, orderID: await context.uniqueName("async_order"), userID: "async-user"),
                        properties: self.properties(
                            messageID: UUID().uuidString.lowercased(),
                            correlationID: correlation,
                            replyTo: nil,
                            requestID: correlation
                        )
                    )
                    let (messages, _, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { messages in
                        messages.contains { $0.correlationID == correlation }
                    }
                    try context.require(
                        complete,
                        expected: "a payment.response with correlation_id \(correlation)",
                        seen: "\(messages.count) other messages"
                    )
                    let durable = try await rabbit.messageCount("payment_responses")
                    try context.require(durable != nil, expected: "a durable payment_responses queue", seen: "no such queue")
                }
            },
            self.check("ASYNC-POISON-DLQ", "An invalid JSON payment request ends in payment_requests.dlq (not lost, not retried forever)") {
                context in
                let rabbit = try self.rabbit(context)
                let messageID = "conformance-poison-\(UUID().uuidString.lowercased())"
                try await rabbit.publish(
                    exchange: "payment_exchange",
                    routingKey: "payment.request",
                    payload: "{not json at all",
                    properties: self.properties(messageID: messageID, correlationID: messageID, replyTo: nil, requestID: messageID)
                )
                let budget = context.options.asyncTimeout * 3
                let found = try await Polling.until(budget: budget, interval: .milliseconds(500)) { () -> ManagementMessage? in
                    let parked = try await rabbit.get("payment_requests.dlq", count: 1_000, requeue: true)
                    return parked.first { $0.messageID == messageID }
                }
                guard let (message, elapsed) = found else {
                    let depth = try await rabbit.messageCount("payment_requests.dlq")
                    throw CheckFailure(
                        expected: "the poison message \(messageID) in payment_requests.dlq within \(Int(budget.asSeconds)) s",
                        seen: depth.map { "\($0) other messages there" } ?? "no payment_requests.dlq queue"
                    )
                }
                context.measure("time to the DLQ", "\(Evidence.milliseconds(elapsed)) ms")
                context.note("parked: \(message.payload) properties: \(message.properties.text.prefix(500))")
                try context.require(message.payload == "{not json at all", expected: "the original payload kept", seen: message.payload)
            },
            self.check(
                "ASYNC-NO-LOSS-NO-DUPLICATES",
                "N payment requests get exactly N replies: none lost, none duplicated",
                timeLimit: .seconds(240)
            ) { context in
                let count = context.options.asyncMessages
                try await self.withQueue(context, "bulk", bindings: []) { rabbit, queue in
                    var correlations: [String] = []
                    for index in 0..<count {
                        let correlation = "\(context.options.runID)-\(index)-\(UUID().uuidString.prefix(8))"
                        correlations.append(correlation)
                        try await rabbit.publish(
                            exchange: "payment_exchange",
                            routingKey: "payment.request",
                            payload: self.paymentRequest(context, orderID: "cf_\(context.options.runID)_bulk_\(index)", userID: "async-user"),
                            properties: self.properties(
                                messageID: UUID().uuidString.lowercased(),
                                correlationID: correlation,
                                replyTo: queue,
                                requestID: correlation
                            ),
                            record: index < 2
                        )
                    }
                    let wanted = Set(correlations)
                    let (messages, elapsed, _) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout * 2) { messages in
                        Set(messages.compactMap(\.correlationID)).isSuperset(of: wanted)
                    }
                    // Wait a little longer for duplicates that would arrive after the last reply.
                    try await Task.sleep(for: .seconds(2))
                    let late = try await rabbit.get(queue, count: 1_000)
                    let all = messages + late
                    let ids = all.compactMap(\.correlationID)
                    let counts = Dictionary(ids.map { ($0, 1) }, uniquingKeysWith: +)
                    let missing = wanted.subtracting(counts.keys)
                    let duplicated = counts.filter { $0.value > 1 }.keys
                    context.measure("requests", String(count))
                    context.measure("replies", String(all.count))
                    context.measure("time to all replies", "\(Evidence.milliseconds(elapsed)) ms")
                    try context.require(
                        missing.isEmpty && duplicated.isEmpty,
                        expected: "\(count) replies, one per request",
                        seen: "\(all.count) replies, \(missing.count) missing, \(duplicated.count) duplicated"
                            + (missing.isEmpty ? "" : " (missing e.g. \(missing.sorted().prefix(3)))")
                    )
                }
            },
            self.check("ASYNC-DEDUPE-MESSAGE-ID", "A request delivered twice with the same message_id is processed once (one reply)") { context in
                try await self.withQueue(context, "dedupe", bindings: []) { rabbit, queue in
                    let correlation = UUID().uuidString.lowercased()
                    let messageID = UUID().uuidString.lowercased()
                    let payload = self.paymentRequest(context, orderID: await context.uniqueName("dup_order"), userID: "async-user")
                    for _ in 0..<2 {
                        try await rabbit.publish(
                            exchange: "payment_exchange",
                            routingKey: "payment.request",
                            payload: payload,
                            properties: self.properties(messageID: messageID, correlationID: correlation, replyTo: queue, requestID: correlation)
                        )
                    }
                    let (first, _, complete) = try await self.collect(rabbit, queue, budget: context.options.asyncTimeout) { !$0.isEmpty }
                    try context.require(complete, expected: "a reply", seen: "none")
                    try await Task.sleep(for: .seconds(3))
                    let more = try await rabbit.get(queue, count: 100)
                    let replies = (first + more).filter { $0.correlationID == correlation }
                    try context.require(
                        replies.count == 1,
                        expected: "exactly one reply to a message delivered twice",
                        seen: "\(replies.count): \(replies.map(\.payload))"
                    )
                }
            },
        ]
    }

    // MARK: Effects of events, seen through HTTP

    static var effectChecks: [Check] {
        PaymentFlavour.allCases.map { flavour in
            self.check(
                "ASYNC-REVIEW-VERIFIED-\(flavour.tag)",
                "After a payment.completed from \(flavour.rawValue) for a book, the buyer's review of it is a verified purchase",
                requires: [.http]
            ) { context in
                let buyer = try await context.freshUser("buyer")
                let book = await context.uniqueName("book")
                let (_, before) = try await context.createReview(by: buyer, bookID: book)
                try context.require(
                    before["verified_purchase"] == false,
                    expected: "verified_purchase false before any purchase",
                    seen: before["verified_purchase"]?.text ?? "none"
                )
                try context.expectStatus(
                    try await context.http.delete("/api/reviews/\(before["review_id"]?.stringValue ?? "")", token: buyer.token),
                    200
                )
                _ = try await context.payment(flavour, for: buyer, bookID: book)
                let paid = ContinuousClock.now
                let verified = try await Polling.until(budget: context.options.asyncTimeout, interval: .milliseconds(300), maxAttempts: 60) {
                    () -> JSON? in
                    let (_, review) = try await context.createReview(by: buyer, bookID: book)
                    if review["verified_purchase"] == true { return review }
                    let id = review["review_id"]?.stringValue ?? ""
                    try context.expectStatus(try await context.http.delete("/api/reviews/\(id)", token: buyer.token), 200)
                    return nil
                }
                try context.require(
                    verified != nil,
                    expected: "a review with verified_purchase true within \(Int(context.options.asyncTimeout.asSeconds)) s of the payment",
                    seen: "verified_purchase stayed false"
                )
                context.measure("payment → verified", "\(Evidence.milliseconds(ContinuousClock.now - paid)) ms")
            }
        } + [
            self.check(
                "ASYNC-USER-DELETED-REVIEWS",
                "When an admin deletes a user, that user's reviews disappear (user.deleted consumed)",
                requires: [.http]
            ) { context in
                let admin = try await context.admin()
                let user = try await context.freshUser("leaver")
                let (_, review) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                try context.expectStatus(try await context.http.delete("/api/users/\(user.id)", token: admin.token), 200)
                let gone = try await Polling.until(budget: context.options.asyncTimeout, interval: .milliseconds(300)) { () -> Bool? in
                    try await context.http.get("/api/reviews/\(id)", record: false).status == 404 ? true : nil
                }
                try context.require(gone != nil, expected: "GET /api/reviews/\(id) → 404 after the user's deletion", seen: "the review still active")
                context.measure("delete → review gone", "\(Evidence.milliseconds(gone?.elapsed ?? .zero)) ms")
            }
        ]
    }
}
