import BookstoreCore
import Hummingbird
import JSONKit

/// The payment routes under `/api/payments` (SPEC §4.3, §4.4), in the names and shapes of `Flavour`. Every route
/// needs a token.
struct PaymentsController<Flavour: PaymentFlavour>: Sendable {
    let flavour: Flavour
    let http: PaymentHTTP

    func addRoutes(to router: ServiceRouter) {
        let user = self.flavour.userIDParameter
        let payment = self.flavour.paymentIDParameter
        router.post("/api/payments") { request, context in try await self.create(request, context) }
        router.post("/api/payments/validate") { request, context in try await self.validate(request, context) }
        router.get(RouterPath("/api/payments/user/{\(user)}")) { request, context in try await self.list(request, context) }
        router.get(RouterPath("/api/payments/{\(payment)}")) { request, context in try await self.show(request, context) }
        router.post(RouterPath("/api/payments/{\(payment)}/refund")) { request, context in try await self.refund(request, context) }
    }

    /// POST /api/payments: the completed payment (200 Python, 201 Java), or 402 with the declined one.
    func create(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let key = try self.http.idempotencyKey(request)
        let object = self.flavour.requestObject(try await request.jsonObject(limit: self.http.maxBodyBytes))
        let paymentRequest = try PaymentRequest.read(object, fields: self.flavour.fields, cards: self.http.cards)
        try self.http.authorize(identity, for: paymentRequest.userID, "\(self.flavour.fields.userID) must be your own user id")
        let submission = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.submit(paymentRequest, idempotencyKey: key, requestID: context.requestID)
        }
        let payment = submission.payment
        let headers = PaymentHTTP.headers(for: submission)
        if payment.status == .failed {
            return self.flavour.response(.paymentRequired, message: payment.message, data: self.flavour.payment(payment), headers: headers)
        }
        return self.flavour.response(
            self.flavour.createdStatus,
            message: "Payment processed successfully",
            data: self.flavour.payment(payment),
            headers: headers
        )
    }

    /// GET /api/payments/{payment id}
    func show(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: self.flavour.paymentIDParameter)
        return self.flavour.response(message: "Payment retrieved successfully", data: self.flavour.payment(payment))
    }

    /// GET /api/payments/user/{user id}?page&limit: `{payments, total, page, limit}`, newest first.
    func list(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let parameter = self.flavour.userIDParameter
        let userID = try self.http.userID(context, parameter: parameter, field: parameter)
        try self.http.authorize(identity, for: userID)
        let page = try PageRequest.parse(request.uri)
        let result = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.payments(userID: userID, page: page)
        }
        let data: JSON = [
            "payments": .array(result.payments.map(self.flavour.payment)),
            "total": .int(result.total),
            "page": .int(page.page),
            "limit": .int(page.limit),
        ]
        return self.flavour.response(message: "Payments retrieved successfully", data: data)
    }

    /// POST /api/payments/{payment id}/refund: the flavour's refund data; 409 unless completed.
    func refund(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        let identity = try await self.http.tokens.authenticate(request)
        let payment = try await self.http.ownedPayment(context, identity: identity, parameter: self.flavour.paymentIDParameter)
        let refunded = try await self.http.run { () async throws(PaymentEngineError) in
            try await self.http.engine.refund(payment, requestID: context.requestID)
        }
        return self.flavour.response(message: "Payment refunded successfully", data: self.flavour.refundData(refunded))
    }

    /// POST /api/payments/validate: `{valid:true}`, or 400 with every reason and `{valid:false}`.
    func validate(_ request: Request, _ context: BookstoreRequestContext) async throws(APIError) -> Response {
        _ = try await self.http.tokens.authenticate(request)
        let object = self.flavour.requestObject(try await request.jsonObject(limit: self.http.maxBodyBytes))
        var reader = FieldReader(object)
        PaymentRequest.checkCard(&reader, fields: self.flavour.fields, cards: self.http.cards, required: true)
        guard reader.errors.isEmpty else {
            throw APIError(status: .badRequest, message: "Card validation failed", fieldErrors: reader.errors, data: ["valid": false])
        }
        return self.flavour.response(message: "Card details are valid", data: ["valid": true])
    }
}
