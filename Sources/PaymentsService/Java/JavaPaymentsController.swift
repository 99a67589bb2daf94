import BookstoreCore
import Hummingbird
import JSONKit

/// The Java flavour's routes under `/api/payments` (SPEC §4.4), Spring Boot style. Every route needs a token.
/// Request bodies use camelCase names; the snake_case spellings are accepted too.
struct JavaPaymentsController: Sendable {
    let http: PaymentHTTP

    func addRoutes(to router: ServiceRouter) {
        router.post("/api/payments") { request, context in try await self.create(request, context) }
        router.post("/api/payments/validate") { request, context in try await self.validate(request, context) }
        router.get("/api/payments/user/{userId}") { request, context in try await self.list(request, context) }
        router.get("/api/payments/{paymentId}") { request, context in try await self.show(request, context) }
        router.post("/api/payments/{paymentId}/refund") { request, context in try await self.refund(request, context) }
    }

    /// POST /api/payments: 201 with the completed payment, 402 with the declined one.
    func create(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let key = try self.http.idempotencyKey(request)
        let object = PaymentFields.camelCase.aliasing(try await request.jsonObject(limit: self.http.maxBodyBytes), from: .snakeCase)
        let paymentRequest = try PaymentRequest.read(object, fields: .camelCase, cards: self.http.cards)
        try self.http.authorize(identity, for: paymentRequest.userID, "userId must be your own user id")
        let submission = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.submit(paymentRequest, idempotencyKey: key, requestID: context.requestID)
        }
        let payment = submission.payment
        let headers = PaymentHTTP.headers(for: submission)
        if payment.status == .failed {
            return JavaFormat.response(.paymentRequired, message: payment.message, data: JavaFormat.payment(payment), headers: headers)
        }
        return JavaFormat.response(.created, message: "Payment processed successfully", data: JavaFormat.payment(payment), headers: headers)
    }

    /// GET /api/payments/{paymentId}
    func show(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: "paymentId")
        return JavaFormat.response(message: "Payment retrieved successfully", data: JavaFormat.payment(payment))
    }

    /// GET /api/payments/user/{userId}?page&limit: `{payments, total, page, limit}`, newest first.
    func list(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let userID = try self.http.userID(context, parameter: "userId", field: "userId")
        try self.http.authorize(identity, for: userID)
        let page = try PageRequest.parse(request.uri)
        let result = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.payments(userID: userID, page: page)
        }
        let data: JSON = [
            "payments": .array(result.payments.map(JavaFormat.payment)),
            "total": .int(result.total),
            "page": .int(page.page),
            "limit": .int(page.limit),
        ]
        return JavaFormat.response(message: "Payments retrieved successfully", data: data)
    }

    /// POST /api/payments/{paymentId}/refund: the refunded payment; 409 unless completed.
    func refund(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: "paymentId")
        let refunded = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.refund(payment, requestID: context.requestID)
        }
        return JavaFormat.response(message: "Payment refunded successfully", data: JavaFormat.payment(refunded))
    }

    /// POST /api/payments/validate: `{valid:true}`, or 400 with every reason in `errors`.
    func validate(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        _ = try await self.http.tokens.authenticate(request)
        let object = PaymentFields.camelCase.aliasing(try await request.jsonObject(limit: self.http.maxBodyBytes), from: .snakeCase)
        var reader = FieldReader(object)
        PaymentRequest.checkCard(&reader, fields: .camelCase, cards: self.http.cards, required: true)
        guard reader.errors.isEmpty else {
            throw APIError(status: .badRequest, message: "Card validation failed", fieldErrors: reader.errors, data: ["valid": false])
        }
        return JavaFormat.response(message: "Card details are valid", data: ["valid": true])
    }
}
