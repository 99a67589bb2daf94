import ConformanceKit
import Foundation
import Hummingbird
import JSONKit
import Synchronization

/// A tiny stand-in for the bookstore behind its gateway: registration, login, /api/users/me and reviews, with
/// switchable defects so each suite can be shown to catch them. Every other path answers 401 without a valid
/// token and 404 with one, as a gateway checking tokens at the edge does.
final class FakeBookstore: Sendable {
    struct Defects: Sendable {
        /// `user.id` is a number instead of a UUID string.
        var wrongUserIDType = false
        /// Tokens with `alg: none` are accepted.
        var acceptsAlgNone = false
        /// A review with a non-integer rating crashes the handler (500).
        var crashesOnBadRating = false
        /// Concurrent creates are answered right (one 201, then 409) but every one of them is stored.
        var storesConcurrentDuplicates = false
    }

    static let secret = Array("fake-bookstore-secret-0123456789abcdef".utf8)
    let defects: Defects
    private let users = Mutex<[String: (id: String, password: String, email: String)]>([:])
    private let reviews = Mutex<Set<String>>([])
    private let stored = Mutex<[String: [JSON]]>([:])

    init(defects: Defects = Defects()) {
        self.defects = defects
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }

    func userJSON(id: String, username: String, email: String) -> JSON {
        [
            "id": self.defects.wrongUserIDType ? 12_345 : .string(id), "username": .string(username), "email": .string(email),
            "firstName": "Conformance", "lastName": "Check", "phone": nil, "address": nil, "active": true, "emailVerified": false,
            "roles": ["ROLE_USER"], "createdAt": .string(Self.timestamp()), "lastLogin": nil,
        ]
    }

    /// The identity of a request's token, honouring the `acceptsAlgNone` defect.
    func subject(of request: Request) -> String? {
        guard let token = request.bearerToken, let parts = JWTForge.decode(token) else { return nil }
        if self.defects.acceptsAlgNone, parts.header["alg"]?.stringValue?.lowercased() == "none" {
            return parts.claims["sub"]?.stringValue
        }
        guard parts.header["alg"] == "HS512",
            JWTForge.sign(header: parts.header, claims: parts.claims, secret: Self.secret, algorithm: "HS512") == token,
            let expiry = parts.claims["exp"]?.doubleValue, expiry > Date().timeIntervalSince1970
        else { return nil }
        return parts.claims["sub"]?.stringValue
    }

    static let unauthorized = Response.json(
        ["status": "error", "message": "Missing or invalid token", "requestId": "fake-request-id", "timestamp": .string(timestamp())],
        status: .unauthorized
    )

    var router: Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/api/auth/register") { request, _ in
            guard let body = try await request.json(), let username = body["username"]?.stringValue, let email = body["email"]?.stringValue,
                let password = body["password"]?.stringValue
            else {
                return Response.json(["message": "username is required", "success": false], status: .badRequest)
            }
            let id = UUID().uuidString.lowercased()
            self.users.withLock { $0[username] = (id, password, email) }
            return Response.json(
                ["message": "User registered successfully!", "success": true, "user": self.userJSON(id: id, username: username, email: email)],
                status: .created
            )
        }
        router.post("/api/auth/login") { request, _ in
            let body = try await request.json()
            let name = body?["usernameOrEmail"]?.stringValue ?? ""
            guard let user = self.users.withLock({ $0[name] }), user.password == body?["password"]?.stringValue else {
                return Response.json(["message": "Invalid credentials", "success": false], status: .unauthorized)
            }
            let now = Int(Date().timeIntervalSince1970)
            let claims: JSON = [
                "sub": .string(user.id), "username": .string(name), "email": .string(user.email), "roles": ["ROLE_USER"],
                "iat": .int(now), "exp": .int(now + 3600),
            ]
            let token = JWTForge.sign(header: JWTForge.header(alg: "HS512"), claims: claims, secret: Self.secret, algorithm: "HS512")
            return Response.json([
                "token": .string(token), "type": "Bearer", "userId": .string(user.id), "username": .string(name), "email": .string(user.email),
                "roles": ["ROLE_USER"],
            ])
        }
        router.get("/api/users/me") { request, _ in
            guard let subject = self.subject(of: request) else { return Self.unauthorized }
            let user = self.users.withLock { $0.first { $0.value.id == subject } }
            return Response.json(self.userJSON(id: subject, username: user?.key ?? "someone", email: user?.value.email ?? "a@example.com"))
        }
        router.post("/api/reviews") { request, _ in
            guard let subject = self.subject(of: request) else { return Self.unauthorized }
            guard let body = try await request.json(), case .object = body else {
                return Response.json(["errors": ["invalid JSON body"]], status: .badRequest)
            }
            guard let rating = body["rating"]?.intValue, (1...5).contains(rating), let book = body["book_id"]?.stringValue,
                body["user_id"]?.stringValue == subject, let title = body["title"]?.stringValue, let comment = body["comment"]?.stringValue
            else {
                if self.defects.crashesOnBadRating, body["rating"]?.intValue == nil {
                    return Response(
                        status: .internalServerError,
                        headers: [.contentType: "text/html"],
                        body: .init(byteBuffer: ByteBuffer(string: "<html>boom</html>"))
                    )
                }
                return Response.json(["errors": ["invalid review"]], status: .badRequest)
            }
            let now = Self.timestamp()
            let review: JSON = [
                "review_id": .string(UUID().uuidString.lowercased()), "book_id": .string(book), "user_id": .string(subject),
                "rating": .int(rating),
                "title": .string(title), "comment": .string(comment), "verified_purchase": false, "helpful_count": 0, "status": "active",
                "created_at": .string(now), "updated_at": .string(now),
            ]
            let fresh = self.reviews.withLock { $0.insert("\(subject)/\(book)").inserted }
            if fresh || self.defects.storesConcurrentDuplicates { self.stored.withLock { $0[book, default: []].append(review) } }
            guard fresh else { return Response.json(["error": "already reviewed"], status: .conflict) }
            return Response.json(review, status: .created)
        }
        router.get("/api/reviews/book/{book}") { _, context in
            let book = context.parameters.get("book") ?? ""
            let reviews = self.stored.withLock { $0[book] ?? [] }
            return Response.json(["book_id": .string(book), "reviews": .array(reviews), "page": 1, "limit": 20, "total": .int(reviews.count)])
        }
        // Everything else: the edge check of a gateway.
        router.add(
            middleware: EdgeFallback { request in
                self.subject(of: request) == nil ? Self.unauthorized : Response.json(["error": "not found"], status: .notFound)
            }
        )
        return router
    }
}

/// Answers requests no route matched, as a gateway's edge check would.
struct EdgeFallback: RouterMiddleware {
    typealias Context = BasicRequestContext
    let fallback: @Sendable (Request) -> Response

    init(_ fallback: @escaping @Sendable (Request) -> Response) {
        self.fallback = fallback
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return self.fallback(request)
        }
    }
}
