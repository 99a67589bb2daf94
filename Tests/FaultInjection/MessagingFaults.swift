import AMQPBus
import BookstoreCore
import Foundation
import JSONKit

/// The planted defects of the cluster stage (issue 10): planted in one service's bus (the messaging seam), settings
/// or start-up by `bookstore-faults serve`, run as the local cluster's replicas on the real broker, caught (or not) by
/// the async and failover suites.
extension FaultCatalogue {
    static let messaging: [Fault] = [
        Fault(
            "payments-python-event-wrong-amount",
            service: python,
            checks: ["ASYNC-PAYPY-COMPLETED-EVENT"],
            "payment.completed carries an amount other than the one charged"
        ) { bus in
            FaultyEventBus(
                bus,
                publish: { Self.rewrite($0, routingKey: "payment.completed") { $0.setting(["data", "amount"], to: .number("0.01")) } }
            )
        },
        Fault(
            "payments-java-event-wrong-user",
            service: java,
            checks: ["ASYNC-PAYJAVA-COMPLETED-EVENT"],
            "payment.completed names another user than the payer"
        ) { bus in
            FaultyEventBus(bus, publish: { Self.rewrite($0, routingKey: "payment.completed") { $0.setting(["userId"], to: "someone-else") } })
        },
        Fault("payments-python-no-refund-event", service: python, checks: ["ASYNC-PAYPY-REFUNDED-EVENT"], "a refund publishes nothing") {
            bus in
            FaultyEventBus(bus, publish: { $0.routingKey == "payment.refunded" ? nil : $0 })
        },
        Fault(
            "payments-reply-unbound-key",
            service: python,
            checks: ["ASYNC-PAYMENT-RESPONSE-DEFAULT"],
            "a reply without reply_to goes to routing key payment.reply, which no queue is bound to"
        ) { bus in
            FaultyEventBus(
                bus,
                publish: { message in
                    guard message.routingKey == "payment.response" else { return message }
                    var rerouted = message
                    rerouted.routingKey = "payment.reply"
                    return rerouted
                }
            )
        },
        Fault(
            "payments-poison-dropped",
            service: python,
            checks: ["ASYNC-POISON-DLQ"],
            "a payment request that cannot be processed is acknowledged and dropped instead of dead-lettered"
        ) { bus in
            FaultyEventBus(
                bus,
                deliver: { message, handler in
                    let outcome = await handler(message)
                    if case .deadLetter = outcome { return .ack }
                    return outcome
                }
            )
        },
        Fault(
            "payments-redelivery-processed-twice",
            service: python,
            checks: ["ASYNC-DEDUPE-MESSAGE-ID"],
            "deliveries are not deduplicated: every copy of a message is processed (its message_id is ignored)"
        ) { bus in
            FaultyEventBus(
                bus,
                deliver: { message, handler in
                    var copy = message
                    copy.messageID = UUID().uuidString.lowercased()
                    return await handler(copy)
                }
            )
        },
        Fault("payments-python-no-failed-event", service: python, checks: ["ASYNC-PAYPY-FAILED-EVENT"], "a declined charge publishes nothing") {
            bus in
            FaultyEventBus(bus, publish: { $0.routingKey == "payment.failed" ? nil : $0 })
        },
        Fault(
            "payments-java-failed-event-wrong-amount",
            service: java,
            checks: ["ASYNC-PAYJAVA-FAILED-EVENT"],
            "payment.failed carries an amount other than the one declined"
        ) { bus in
            FaultyEventBus(bus, publish: { Self.rewrite($0, routingKey: "payment.failed") { $0.setting(["amount"], to: .number("0")) } })
        },
        Fault("reviews-no-updated-event", service: reviews, checks: ["ASYNC-REVIEW-UPDATED-EVENT"], "updating a review publishes nothing") {
            bus in
            FaultyEventBus(bus, publish: { $0.routingKey == "review.updated" ? nil : $0 })
        },
        Fault(
            "reviews-deleted-event-wrong-key",
            service: reviews,
            checks: ["ASYNC-REVIEW-DELETED-EVENT"],
            "deleting a review publishes review.removed, a routing key no consumer binds"
        ) { bus in
            FaultyEventBus(
                bus,
                publish: { message in
                    guard message.routingKey == "review.deleted" else { return message }
                    var renamed = message
                    renamed.routingKey = "review.removed"
                    return renamed
                }
            )
        },
        Fault("users-no-deleted-event", service: users, checks: ["ASYNC-USER-DELETED-EVENT"], "deleting a user publishes nothing") { bus in
            FaultyEventBus(bus, publish: { $0.routingKey == "user.deleted" ? nil : $0 })
        },
        Fault(
            "gateway-keeps-routing-to-a-dead-replica",
            service: "gateway-service",
            checks: ["FAILOVER-GATEWAY-ZERO-ERRORS"],
            "the gateway neither ejects a dead replica nor checks readiness nor retries an idempotent request elsewhere",
            settings: ["GATEWAY_EJECT_FAILURES": "1000000", "GATEWAY_HEALTH_INTERVAL_MS": "0", "GATEWAY_RETRY_ATTEMPTS": "1"]
        ),
        Fault(
            "gateway-resends-keyless-post",
            service: "gateway-service",
            checks: ["FAILOVER-KEYLESS-POST-NOT-RESENT"],
            "the gateway re-sends every failed request to another replica, a POST without Idempotency-Key that timed out included",
            resendsEveryFailedRequest: true
        ),
        Fault(
            "reviews-replica-never-restarts",
            service: reviews,
            checks: ["FAILOVER-GATEWAY-ZERO-ERRORS", "FAILOVER-REPLICA-RETURNS"],
            "a killed reviews replica never comes back: every start after its first fails at once",
            startsOnce: true
        ),
        Fault(
            "reviews-events-lost-after-connection-close",
            service: reviews,
            checks: ["ASYNC-EVENT-AFTER-CONNECTION-CLOSE"],
            "once the broker has closed one of its connections, the reviews publisher drops every event and reports success"
        ) { bus in
            // Trips on the bus's own count of lost connections (consumers notice a close at once), not on polling.
            let amqp = bus as? AMQPEventBus
            return FaultyEventBus(bus, publish: { (amqp?.connectionLosses ?? 0) > 0 ? nil : $0 })
        },
        Fault("reviews-no-created-event", service: reviews, checks: ["ASYNC-REVIEW-CREATED-EVENT"], "creating a review publishes nothing") {
            bus in
            FaultyEventBus(bus, publish: { $0.routingKey == "review.created" ? nil : $0 })
        },
    ]

    /// `message` with its JSON body transformed when its routing key is `routingKey`.
    static func rewrite(_ message: EventMessage, routingKey: String, _ transform: (JSON) -> JSON) -> EventMessage {
        guard message.routingKey == routingKey, let json = try? JSON.parse(message.body) else { return message }
        var rewritten = message
        rewritten.body = transform(json).bytes
        return rewritten
    }
}

extension JSON {
    /// This value with the member at `path` (object keys) set to `value`; unchanged when the path is not there.
    func setting(_ path: [String], to value: JSON) -> JSON {
        guard let key = path.first, case .object(var object) = self, let member = object[key] else { return self }
        object[key] = path.count == 1 ? value : member.setting(Array(path.dropFirst()), to: value)
        return .object(object)
    }
}
