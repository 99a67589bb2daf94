import BookstoreCore
import Hummingbird
import JSONKit

/// The Python flavour's routes under `/api/payments` (SPEC §4.3). Every route needs a token.
struct PythonPaymentsController: Sendable {
    let http: PaymentHTTP

    func addRoutes(to router: ServiceRouter) {
        router.post("/api/payments") { request, context in try await self.create(request, context) }
        router.post("/api/payments/validate") { request, context in try await self.validate(request, context) }
        router.get("/api/payments/user/{user_id}") { request, context in try await self.list(request, context) }
        router.get("/api/payments/{payment_id}") { request, context in try await self.show(request, context) }
        router.post("/api/payments/{payment_id}/refund") { request, context in try await self.refund(request, context) }
    }

    /// POST /api/payments: 200 with the completed payment, 402 with the declined one.
    func create(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let key = try self.http.idempotencyKey(request)
        let object = try await request.jsonObject(limit: self.http.maxBodyBytes)
        let paymentRequest = try PaymentRequest.read(object, fields: .snakeCase, cards: self.http.cards)
        try self.http.authorize(identity, for: paymentRequest.userID, "user_id must be your own user id")
        let submission = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.submit(paymentRequest, idempotencyKey: key, requestID: context.requestID)
        }
        let payment = submission.payment
        let headers = PaymentHTTP.headers(for: submission)
        if payment.status == .failed {
            return PythonFormat.response(.paymentRequired, message: payment.message, data: PythonFormat.payment(payment), headers: headers)
        }
        return PythonFormat.response(message: "Payment processed successfully", data: PythonFormat.payment(payment), headers: headers)
    }

    /// GET /api/payments/{payment_id}
    func show(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: "payment_id")
        return PythonFormat.response(message: "Payment retrieved successfully", data: PythonFormat.payment(payment))
    }

    /// GET /api/payments/user/{user_id}?page&limit: `{payments, total, page, limit}`, newest first.
    func list(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let userID = try self.http.userID(context, parameter: "user_id", field: "user_id")
        try self.http.authorize(identity, for: userID)
        let page = try PageRequest.parse(request.uri)
        let result = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.payments(userID: userID, page: page)
        }
        let data: JSON = [
            "payments": .array(result.payments.map(PythonFormat.payment)),
            "total": .int(result.total),
            "page": .int(page.page),
            "limit": .int(page.limit),
        ]
        return PythonFormat.response(message: "Payments retrieved successfully", data: data)
    }

    /// POST /api/payments/{payment_id}/refund: `{payment_id, status:"refunded", refunded_at}`; 409 unless completed.
    func refund(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: "payment_id")
        let refunded = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.refund(payment, requestID: context.requestID)
        }
        let data: JSON = [
            "payment_id": .string(refunded.paymentID),
            "status": .string(refunded.status.rawValue),
            "refunded_at": .optional(refunded.refundedAt.map(Timestamp.iso8601)),
        ]
        return PythonFormat.response(message: "Payment refunded successfully", data: data)
    }

    /// POST /api/payments/validate: `{valid:true}`, or 400 with every reason and `{valid:false}`.
    func validate(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        _ = try await self.http.tokens.authenticate(request)
        let object = try await request.jsonObject(limit: self.http.maxBodyBytes)
        var reader = FieldReader(object)
        PaymentRequest.checkCard(&reader, fields: .snakeCase, cards: self.http.cards, required: true)
        guard reader.errors.isEmpty else {
            throw APIError(status: .badRequest, message: "Card validation failed", fieldErrors: reader.errors, data: ["valid": false])
        }
        return PythonFormat.response(message: "Card details are valid", data: ["valid": true])
    }
}
