import BookstoreCore
import Foundation
import Hummingbird
import JSONKit
import Logging

/// The routes of the review service (SPEC §4.5). Reads are public; writes need a token.
struct ReviewsController: Sendable {
    let reviews: any ReviewRepository
    let purchases: any PurchaseRepository
    let tokens: TokenService
    let events: ReviewEvents
    let maxBodyBytes: Int

    func addRoutes(to router: ServiceRouter) {
        router.post("/api/reviews") { request, context in try await self.create(request, context) }
        router.get("/api/reviews/book/{book_id}") { request, context in try await self.listByBook(request, context) }
        router.get("/api/reviews/book/{book_id}/stats") { _, context in try await self.stats(context) }
        router.get("/api/reviews/user/{user_id}") { request, context in try await self.listByUser(request, context) }
        router.get("/api/reviews/{review_id}") { _, context in Response.json(try await self.visibleReview(context).json) }
        router.put("/api/reviews/{review_id}") { request, context in try await self.update(request, context) }
        router.delete("/api/reviews/{review_id}") { request, context in try await self.delete(request, context) }
        router.post("/api/reviews/{review_id}/helpful") { request, context in try await self.markHelpful(request, context) }
    }

    // MARK: Writes

    func create(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let caller = try await self.tokens.authenticate(request)
        var fields = FieldReader(try await request.jsonObject(limit: self.maxBodyBytes))
        let bookID = fields.string("book_id", length: 1...100, pattern: Patterns.identifier)
        let userID = fields.string("user_id", length: 1...100, pattern: Patterns.identifier)
        let rating = fields.integer("rating", range: 1...5)
        let title = fields.string("title", length: 1...200)
        let comment = fields.string("comment", length: 1...2000)
        try fields.validate()
        guard let bookID, let userID, let rating, let title, let comment else { throw APIError.badRequest("Invalid request") }
        guard caller.mayActFor(userID) else { throw APIError.forbidden("You can only write reviews as yourself") }

        let review = Review(
            bookID: bookID,
            userID: userID,
            rating: rating,
            title: title,
            comment: comment,
            verifiedPurchase: try await self.purchases.hasPurchased(userID: userID, bookID: bookID)
        )
        do {
            try await self.reviews.create(review)
        } catch ReviewRepositoryError.duplicateActiveReview {
            throw APIError.conflict("You have already reviewed this book")
        }
        context.logger.info(
            "Review created",
            metadata: ["review.id": .string(review.id), "book.id": .string(bookID), "user.id": .string(userID)]
        )
        try await self.events.publishOrUndo(.created, review, requestID: context.requestID) { try await self.reviews.remove(id: review.id) }
        return Response.json(review.json, status: .created)
    }

    func update(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let caller = try await self.tokens.authenticate(request)
        let id = try Self.reviewID(context)
        var fields = FieldReader(try await request.jsonObject(limit: self.maxBodyBytes))
        let changes = ReviewChanges(
            rating: fields.integer("rating", required: fields.has("rating"), range: 1...5),
            title: fields.string("title", required: fields.has("title"), length: 1...200),
            comment: fields.string("comment", required: fields.has("comment"), length: 1...2000)
        )
        try fields.validate()
        guard !changes.isEmpty else {
            throw APIError.validation([FieldError(field: "body", message: "at least one of rating, title or comment is required")])
        }
        let review = try await self.visibleReview(id: id)
        guard caller.userID == review.userID else { throw APIError.forbidden("You can only update your own reviews") }
        guard let updated = try await self.reviews.update(id: id, changes: changes, at: Date()) else { throw Self.reviewNotFound }
        context.logger.info("Review updated", metadata: ["review.id": .string(id)])
        try await self.events.publishOrUndo(.updated, updated, requestID: context.requestID) { try await self.reviews.restore(review) }
        return Response.json(updated.json)
    }

    func delete(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let caller = try await self.tokens.authenticate(request)
        let id = try Self.reviewID(context)
        let review = try await self.visibleReview(id: id)
        guard caller.mayActFor(review.userID) else { throw APIError.forbidden("You can only delete your own reviews") }
        guard let deleted = try await self.reviews.delete(id: id, at: Date()) else { throw Self.reviewNotFound }
        context.logger.info("Review deleted", metadata: ["review.id": .string(id), "user.id": .string(caller.userID)])
        try await self.events.publishOrUndo(.deleted, deleted, requestID: context.requestID) { try await self.reviews.restore(review) }
        return Response.json(["message": "Review deleted successfully", "review_id": .string(id)])
    }

    func markHelpful(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        _ = try await self.tokens.authenticate(request)
        let id = try Self.reviewID(context)
        guard let review = try await self.reviews.incrementHelpful(id: id) else { throw Self.reviewNotFound }
        return Response.json(review.json)
    }

    // MARK: Reads

    func listByBook(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let bookID = try Self.identifier("book_id", context)
        let page = try PageRequest.parse(request.uri)
        let result = try await self.reviews.list(bookID: bookID, offset: page.offset(), limit: page.limit)
        return Response.json(Self.pageJSON(owner: ("book_id", bookID), page: page, result: result))
    }

    func listByUser(_ request: Request, _ context: BookstoreRequestContext) async throws -> Response {
        let userID = try Self.identifier("user_id", context)
        let page = try PageRequest.parse(request.uri)
        let result = try await self.reviews.list(userID: userID, offset: page.offset(), limit: page.limit)
        return Response.json(Self.pageJSON(owner: ("user_id", userID), page: page, result: result))
    }

    func stats(_ context: BookstoreRequestContext) async throws -> Response {
        let bookID = try Self.identifier("book_id", context)
        return Response.json(try await self.reviews.stats(bookID: bookID).json(bookID: bookID))
    }

    // MARK: Helpers

    static let reviewNotFound = APIError.notFound("Review not found")

    /// The `review_id` path parameter, lower-cased; a value that is not a UUID cannot name a review (404).
    static func reviewID(_ context: BookstoreRequestContext) throws(APIError) -> String {
        guard let raw = context.parameters.get("review_id"), let uuid = UUID(parsing: raw) else { throw reviewNotFound }
        return uuid.lowercasedText
    }

    /// A `book_id` or `user_id` path parameter, which must be an identifier (400 otherwise).
    static func identifier(_ name: String, _ context: BookstoreRequestContext) throws(APIError) -> String {
        guard let value = context.parameters.get(name), Patterns.isIdentifier(value) else {
            throw APIError.validation([
                FieldError(field: name, message: "\(name) must be 1 to 100 letters, digits, '_' or '-'")
            ])
        }
        return value
    }

    func visibleReview(_ context: BookstoreRequestContext) async throws -> Review {
        try await self.visibleReview(id: Self.reviewID(context))
    }

    /// The review with `id` unless it is unknown or deleted (404).
    func visibleReview(id: String) async throws -> Review {
        guard let review = try await self.reviews.find(id: id), review.isVisible else { throw Self.reviewNotFound }
        return review
    }

    static func pageJSON(owner: (key: String, value: String), page: PageRequest, result: ReviewPage) -> JSON {
        var object = JSONObject()
        object[owner.key] = .string(owner.value)
        object["reviews"] = .array(result.reviews.map(\.json))
        object["page"] = .int(page.page)
        object["limit"] = .int(page.limit)
        object["count"] = .int(result.reviews.count)
        object["total"] = .int(result.total)
        return .object(object)
    }
}
