import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit

/// The planted-defect catalogue of the HTTP seams (issue 10): each fault is a defect a real implementation could
/// have, planted in one service of the embedded system, with the checks that must catch it.
public enum FaultCatalogue {
    static let users = "user-service"
    static let python = "payment-service-python"
    static let java = "payment-service-java"
    static let reviews = "review-service"

    public static let all: [Fault] = contracts + security + behaviour + messaging + alertRules + autoscaling + readiness

    public static func named(_ name: String) -> Fault? { all.first { $0.name == name } }

    // MARK: Response shapes

    static let contracts: [Fault] = [
        Fault("users-register-null-id", service: users, checks: ["API-USERS-REGISTER-201"], "registration answers user.id null") {
            request,
            context,
            _,
            next in
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == "/api/auth/register", response.status == .created else { return response }
            return try await Rewrite.json(response) { json in
                guard case .object(var body) = json, case .object(var user)? = body["user"] else { return json }
                user["id"] = .null
                body["user"] = .object(user)
                return .object(body)
            }
        },
        Self.unknownIDAnswers400("users-unknown-id-400", service: users, pattern: "/api/users/*", checks: ["API-USERS-GET-404"]),
        Fault(
            "reviews-rating-as-string",
            service: reviews,
            checks: ["API-REVIEWS-CREATE-201", "API-REVIEWS-GET-200"],
            "reviews render rating as a string (\"5\")"
        ) { request, context, _, next in
            try await Rewrite.json(try await next(request, context)) { json in
                Self.mapReviews(json) { review in
                    var review = review
                    if let rating = review["rating"]?.intValue { review["rating"] = .string(String(rating)) }
                    return review
                }
            }
        },
        Fault("reviews-list-without-total", service: reviews, checks: ["API-REVIEWS-BOOK-LIST-200"], "a book's review page has no total") {
            request,
            context,
            _,
            next in
            let response = try await next(request, context)
            guard Rewrite.matches(request.uri.path, "/api/reviews/book/*"), response.status == .ok else { return response }
            return try await Rewrite.json(response) { json in
                guard case .object(var page) = json else { return json }
                page["total"] = nil
                return .object(page)
            }
        },
        Fault(
            "payments-python-extra-id",
            service: python,
            checks: ["API-PAYPY-CREATE-200", "API-PAYPY-GET-200"],
            "payments carry MongoDB's _id"
        ) { request, context, _, next in
            try await Rewrite.json(try await next(request, context)) { json in
                Self.mapData(json) { payment in
                    var payment = payment
                    if payment["payment_id"] != nil { payment["_id"] = ["$oid": "6566f0a1c2b3d4e5f6a7b8c9"] }
                    return payment
                }
            }
        },
        Fault(
            "payments-java-money-as-string",
            service: java,
            checks: ["API-PAYJAVA-CREATE-201", "API-PAYJAVA-MONEY-FORMAT", "API-PAYJAVA-GET-200"],
            "amounts rendered as strings (\"19.90\")"
        ) { request, context, _, next in
            try await Rewrite.json(try await next(request, context)) { json in
                Self.mapData(json) { payment in
                    var payment = payment
                    if case .number(let literal)? = payment["amount"] { payment["amount"] = .string(literal) }
                    return payment
                }
            }
        },
        Fault(
            "payments-python-health-redirect",
            service: python,
            checks: ["API-PAYPY-TRAILING-SLASH", "API-SMOKE-PAYMENTS-PYTHON-HEALTH"],
            "paths without a trailing slash redirect (308) to the slashed form, as Flask's strict_slashes does"
        ) { request, context, _, next in
            let path = request.uri.path
            guard path.hasPrefix("/api/health"), !path.hasSuffix("/") else { return try await next(request, context) }
            return Response(status: .permanentRedirect, headers: [.location: path + "/"])
        },
        Fault(
            "payments-java-created-without-timestamps",
            service: java,
            checks: ["API-PAYJAVA-CREATE-201"],
            "the create response has paymentId null and no createdAt or updatedAt"
        ) { request, context, _, next in
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == "/api/payments", response.status == .created else { return response }
            return try await Rewrite.json(response) { json in
                Self.mapData(json) { payment in
                    var payment = payment
                    payment["paymentId"] = .null
                    payment["createdAt"] = nil
                    payment["updatedAt"] = nil
                    return payment
                }
            }
        },
        Fault(
            "reviews-created-null-id",
            service: reviews,
            checks: ["API-REVIEWS-CREATE-201"],
            "a created review has review_id null and no created_at"
        ) {
            request,
            context,
            _,
            next in
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == "/api/reviews", response.status == .created else { return response }
            return try await Rewrite.json(response) { json in
                Self.mapReviews(json) { review in
                    var review = review
                    review["review_id"] = .null
                    review["created_at"] = nil
                    return review
                }
            }
        },
        Fault(
            "payments-python-currency-lower-case",
            service: python,
            checks: ["API-PAYPY-CREATE-200", "API-PAYPY-GET-200"],
            "payments render the currency in lower case (\"usd\")"
        ) { request, context, _, next in
            try await Rewrite.json(try await next(request, context)) { json in
                Self.mapData(json) { payment in
                    var payment = payment
                    if let currency = payment["currency"]?.stringValue { payment["currency"] = .string(currency.lowercased()) }
                    return payment
                }
            }
        },
        Self.unknownIDAnswers400("payments-java-unknown-id-400", service: java, pattern: "/api/payments/*", checks: ["API-PAYJAVA-GET-404"]),
        Self.unknownIDAnswers400("reviews-unknown-id-400", service: reviews, pattern: "/api/reviews/*", checks: ["API-REVIEWS-GET-404"]),
        Fault(
            "reviews-stats-average-truncated",
            service: reviews,
            checks: ["API-REVIEWS-STATS-200"],
            "a book's average rating is truncated to an integer (integer division: 13 / 3 = 4)"
        ) { request, context, _, next in
            let response = try await next(request, context)
            guard request.method == .get, Rewrite.matches(request.uri.path, "/api/reviews/book/*/stats"), response.status == .ok else {
                return response
            }
            return try await Rewrite.json(response) { json in
                guard case .object(var stats) = json, let average = stats["average_rating"]?.doubleValue else { return json }
                stats["average_rating"] = .int(Int(average))
                return .object(stats)
            }
        },
    ]

    // MARK: Security

    static let security: [Fault] = [
        Fault(
            "users-trusts-the-gateway",
            service: users,
            checks: ["SEC-DIRECT-JWT-USERS"],
            "the users service skips token verification for requests without a token (\"the gateway checks them\")"
        ) { request, context, faults, next in
            guard request.headers[.authorization] == nil else { return try await next(request, context) }
            let token = Rewrite.mint(faults.tokens, claims: nil)
            return try await next(Rewrite.setting(request, .authorization, to: "Bearer \(token)"), context)
        },
        Self.acceptsAlgNone(
            "reviews-alg-none-accepted",
            service: reviews,
            checks: ["SEC-DIRECT-JWT-REVIEWS"],
            "the reviews service accepts alg none tokens"
        ),
        Fault(
            "payments-java-accepts-forged",
            service: java,
            checks: ["SEC-DIRECT-JWT-PAYMENTS-JAVA"],
            "payments-java decodes tokens without checking the signature"
        ) { request, context, faults, next in
            guard let (_, claims) = Rewrite.claims(request.headers[.authorization]) else { return try await next(request, context) }
            return try await next(Rewrite.setting(request, .authorization, to: "Bearer " + Rewrite.mint(faults.tokens, claims: claims)), context)
        },
        Self.acceptsExpired(
            "payments-python-expired-accepted",
            service: python,
            checks: ["SEC-DIRECT-JWT-PAYMENTS-PYTHON"],
            "payments-python ignores exp (expired tokens accepted when called directly)"
        ),
        Self.anyPaymentReadable(
            "payments-python-other-users-payment-readable",
            service: python,
            checks: ["API-PAYPY-GET-403", "SEC-CROSS-USER-PAYMENTS-403"]
        ),
        Self.errorsLeak(
            "users-error-leaks-exception",
            service: users,
            field: "message",
            leak: " (java.lang.IllegalArgumentException: at com.bookstore.users.AuthController.register(AuthController.java:57))",
            checks: ["SEC-MALFORMED-USERS-REGISTER", "SEC-MALFORMED-USERS-LOGIN"],
            "4xx messages carry the exception and a stack frame"
        ),
        Self.nonJSONCrashes(
            "reviews-non-json-500",
            service: reviews,
            error: "Internal Server Error",
            checks: ["SEC-MALFORMED-REVIEWS-CREATE", "SEC-MALFORMED-REVIEWS-UPDATE"]
        ),
        Self.acceptsExpired(
            "users-expired-accepted",
            service: users,
            checks: ["SEC-DIRECT-JWT-USERS"],
            "the users service ignores exp (expired tokens accepted when called directly)"
        ),
        Self.acceptsAlgNone(
            "payments-python-alg-none-accepted",
            service: python,
            checks: ["SEC-DIRECT-JWT-PAYMENTS-PYTHON"],
            "payments-python accepts alg none tokens"
        ),
        Self.anyPaymentReadable(
            "payments-java-other-users-payment-readable",
            service: java,
            checks: ["API-PAYJAVA-GET-403", "SEC-CROSS-USER-PAYMENTS-403"]
        ),
        Self.errorsLeak(
            "payments-python-error-leaks-traceback",
            service: python,
            field: "message",
            leak: "\nTraceback (most recent call last):\n  File \"/app/routes/payments.py\", line 88, in create_payment\nKeyError: 'amount'",
            checks: ["SEC-MALFORMED-PAYPY-CREATE", "SEC-MALFORMED-PAYPY-VALIDATE"],
            "4xx messages carry the Python traceback"
        ),
        Self.nonJSONCrashes(
            "users-non-json-500",
            service: users,
            error: "Internal Server Error",
            checks: ["API-USERS-REGISTER-MALFORMED-400", "SEC-MALFORMED-USERS-REGISTER", "SEC-MALFORMED-USERS-LOGIN"]
        ),
    ]

    // MARK: Behaviour

    static let behaviour: [Fault] = [
        Self.metricsText(
            "reviews-metrics-raw-path",
            service: reviews,
            checks: ["OBS-METRICS-REVIEWS"],
            "the HTTP series are labelled with the raw path (`path=\"/api/reviews/book/b-17\"`) instead of the route template"
        ) { line in
            guard line.hasPrefix("http_request"), let open = line.firstIndex(of: "{") else { return line }
            return line.replacingOccurrences(of: "route=\"", with: "path=\"", options: [], range: open..<line.endIndex)
        },
        Self.metricsText(
            "payments-java-metrics-without-histogram",
            service: java,
            checks: ["OBS-METRICS-PAYMENTS-JAVA"],
            "/metrics has the request counter but no http_request_duration_seconds histogram"
        ) { line in
            line.contains("http_request_duration_seconds") ? nil : line
        },
        Fault(
            "reviews-rating-coerced",
            service: reviews,
            checks: ["API-REVIEWS-CREATE-400"],
            "ratings true, 4.5 and \"5\" are coerced to integers and accepted"
        ) { request, context, _, next in
            guard request.method == .post, request.uri.path == "/api/reviews" else { return try await next(request, context) }
            return try await next(try await Rewrite.jsonRequest(request) { Self.coerceRating($0) }, context)
        },
        Fault(
            "reviews-put-not-revalidated",
            service: reviews,
            checks: ["API-REVIEWS-UPDATE-400"],
            "a review update is not re-validated (out-of-range ratings clamped, blank fields dropped)"
        ) { request, context, _, next in
            guard request.method == .put else { return try await next(request, context) }
            let changed = try await Rewrite.jsonRequest(request) { object in
                var object = Self.coerceRating(object)
                for key in ["title", "comment"] where object[key]?.stringValue?.trimmingCharacters(in: .whitespaces).isEmpty ?? false {
                    object[key] = nil
                }
                if object["rating"] == nil, object["title"] == nil, object["comment"] == nil { object["rating"] = 3 }
                return object
            }
            return try await next(changed, context)
        },
        Self.badLimitReturnsEverything(
            "reviews-limit-zero-returns-everything",
            service: reviews,
            pattern: "/api/reviews/book/*",
            checks: ["API-REVIEWS-BOOK-LIST-400"]
        ),
        Fault("reviews-bad-page-500", service: reviews, checks: ["API-REVIEWS-BOOK-LIST-400"], "page=abc crashes the handler (500)") {
            request,
            context,
            _,
            next in
            if let page = request.uri.queryParameters["page"], Int(page) == nil {
                return Rewrite.jsonResponse(["error": "invalid literal for int() with base 10"], status: .internalServerError)
            }
            return try await next(request, context)
        },
        Fault(
            "reviews-helpful-on-deleted",
            service: reviews,
            checks: ["API-REVIEWS-HELPFUL-404"],
            "a helpful vote on a deleted (or unknown) review answers 200"
        ) { request, context, _, next in
            let response = try await next(request, context)
            guard request.method == .post, Rewrite.matches(request.uri.path, "/api/reviews/*/helpful"), response.status == .notFound
            else { return response }
            return Rewrite.jsonResponse(["message": "Marked helpful"], status: .ok)
        },
        Self.conflictAnsweredCreated(
            "reviews-duplicates-accepted",
            service: reviews,
            path: "/api/reviews",
            checks: ["API-REVIEWS-CREATE-409", "API-REVIEWS-CREATE-CONCURRENT"],
            "a second review of the same book by the same user answers 201"
        ) { sent in
            var review = sent
            let now = Timestamp.iso8601(Date())
            review["review_id"] = .string(UUID().uuidString.lowercased())
            review["verified_purchase"] = false
            review["helpful_count"] = 0
            review["status"] = "active"
            review["created_at"] = .string(now)
            review["updated_at"] = .string(now)
            return .object(review)
        },
        Fault(
            "users-login-not-rate-limited",
            service: users,
            checks: ["API-USERS-LOGIN-429"],
            "failed logins are never rate-limited: every attempt past the limit is answered 401 like the first"
        ) { request, context, _, next in
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == "/api/auth/login", response.status == .tooManyRequests else { return response }
            return Rewrite.jsonResponse(["message": "Invalid username/email or password", "success": false], status: .unauthorized)
        },
        Fault(
            "payments-python-idempotency-ignored",
            service: python,
            checks: ["API-PAYPY-IDEMPOTENT-REPLAY"],
            "Idempotency-Key is ignored: a retried payment charges twice"
        ) { request, context, _, next in
            guard request.method == .post, request.uri.path == "/api/payments" else { return try await next(request, context) }
            // Without the key the order fingerprint would still dedupe; a fresh order id per request defeats it too.
            let changed = try await Rewrite.jsonRequest(Rewrite.setting(request, .init("Idempotency-Key")!, to: nil)) { object in
                var object = object
                if let order = object["order_id"]?.stringValue { object["order_id"] = .string(order + "-" + String(UUID().uuidString.prefix(8))) }
                return object
            }
            return try await next(changed, context)
        },
        Fault(
            "payments-java-key-reused-with-another-body",
            service: java,
            checks: ["API-PAYJAVA-IDEMPOTENCY-409"],
            "the same Idempotency-Key with another body is accepted as a new payment"
        ) { request, context, _, next in
            guard request.method == .post, request.uri.path == "/api/payments", let key = request.headers[.init("Idempotency-Key")!]
            else { return try await next(request, context) }
            let (bytes, request) = try await Rewrite.body(of: request)
            let hash = bytes.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
            return try await next(Rewrite.setting(request, .init("Idempotency-Key")!, to: "\(key.prefix(200))-\(hash)"), context)
        },
        Self.badLimitReturnsEverything(
            "payments-python-bad-limit-returns-everything",
            service: python,
            pattern: "/api/payments/user/*",
            checks: ["API-PAYPY-LIST-400"]
        ),
        Fault("users-list-size-ignored", service: users, checks: ["API-USERS-LIST-200"], "GET /api/users ignores size: every user on one page") {
            request,
            context,
            _,
            next in
            guard request.method == .get, request.uri.path == "/api/users", let size = request.uri.queryParameters["size"], Int(size) != nil
            else { return try await next(request, context) }
            return try await next(Rewrite.query(of: request, nil), context)
        },
        Fault(
            "reviews-rating-out-of-range-accepted",
            service: reviews,
            checks: ["API-REVIEWS-CREATE-400"],
            "an integer rating outside 1…5 (0, 6) is stored as sent: only its type is validated"
        ) { request, context, _, next in
            guard request.method == .post, request.uri.path == "/api/reviews" else { return try await next(request, context) }
            let (bytes, request) = try await Rewrite.body(of: request)
            guard case .object(let sent)? = try? JSON.parse(bytes), let rating = sent["rating"]?.intValue, !(1...5).contains(rating) else {
                return try await next(request, context)
            }
            let inRange = try await Rewrite.jsonRequest(request) { object in
                var object = object
                object["rating"] = 5
                return object
            }
            return try await Rewrite.json(try await next(inRange, context)) { json in
                Self.mapReviews(json) { review in
                    var review = review
                    review["rating"] = .int(rating)
                    return review
                }
            }
        },
        Fault("users-wrong-password-accepted", service: users, checks: ["API-USERS-LOGIN-401"], "a login that fails the password check answers 200") {
            request,
            context,
            faults,
            next in
            let (bytes, request) = try await Rewrite.body(of: request)
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == "/api/auth/login", response.status == .unauthorized,
                let name = (try? JSON.parse(bytes))?["usernameOrEmail"]?.stringValue
            else { return response }
            let id = UUID().uuidString.lowercased()
            let email = name.contains("@") ? name : name + "@example.com"
            let token = Rewrite.mint(faults.tokens, claims: ["sub": .string(id), "username": .string(name), "email": .string(email)])
            let login: JSON = [
                "token": .string(token), "type": "Bearer", "userId": .string(id), "username": .string(name), "email": .string(email),
                "roles": [.string(Identity.userRole)],
            ]
            return Rewrite.jsonResponse(login, status: .ok)
        },
        Self.conflictAnsweredCreated(
            "users-duplicate-username-accepted",
            service: users,
            path: "/api/auth/register",
            checks: ["API-USERS-REGISTER-409"],
            "registering a taken username or email answers 201"
        ) { sent in
            var user = sent
            user["password"] = nil
            user["id"] = .string(UUID().uuidString.lowercased())
            user["roles"] = [.string(Identity.userRole)]
            user["active"] = true
            user["emailVerified"] = false
            return ["message": "User registered successfully!", "success": true, "user": .object(user)]
        },
    ]

    /// A fault that rewrites the service's `/metrics` exposition line by line (nil drops the line).
    static func metricsText(
        _ name: String,
        service: String,
        checks: [String],
        _ summary: String,
        line transform: @escaping @Sendable (String) -> String?
    ) -> Fault {
        Fault(name, service: service, checks: checks, summary) { request, context, _, next in
            let response = try await next(request, context)
            guard request.uri.path == "/metrics" || request.uri.path.hasSuffix("/prometheus") else { return response }
            let text = String(decoding: try await Rewrite.bytes(of: response), as: UTF8.self)
            let rewritten = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { transform(String($0)) }
            return Rewrite.replacing(response, body: Array(rewritten.joined(separator: "\n").utf8))
        }
    }

    /// Every review object in a response (a review, or a page's `reviews`) transformed.
    static func mapReviews(_ json: JSON, _ transform: (JSONObject) -> JSONObject) -> JSON {
        guard case .object(var object) = json else { return json }
        if object["review_id"] != nil { return .object(transform(object)) }
        if case .array(let reviews)? = object["reviews"] {
            object["reviews"] = .array(
                reviews.map { review in
                    if case .object(let review) = review { return .object(transform(review)) }
                    return review
                }
            )
        }
        return .object(object)
    }

    /// A payments envelope's `data` object transformed (unchanged when there is none).
    static func mapData(_ json: JSON, _ transform: (JSONObject) -> JSONObject) -> JSON {
        guard case .object(var body) = json, case .object(let data)? = body["data"] else { return json }
        body["data"] = .object(transform(data))
        return .object(body)
    }

    /// `rating` true → 5, 4.5 → 4, "5" → 5, 0 → 1, 6 → 5.
    static func coerceRating(_ object: JSONObject) -> JSONObject {
        var object = object
        guard let rating = object["rating"] else { return object }
        var value: Int?
        switch rating {
        case .bool(let flag): value = flag ? 5 : 1
        case .string(let text): value = Int(text) ?? Double(text).map { Int($0) }
        case .number(let literal): value = Int(literal) ?? Double(literal).map { Int($0) }
        default: value = rating.intValue
        }
        if let value { object["rating"] = .int(min(5, max(1, value))) }
        return object
    }
}
