import ContractKit
import Foundation
import JSONKit
import Testing

/// The contract documents in `Conformance/contracts`, loaded once.
enum Contracts {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("contracts")

    /// Every document, with the port of its embedded-mode server.
    static let ports = [
        "users": 8081,
        "payments-java": 8082,
        "payments-python": 5000,
        "reviews": 5002,
        "gateway": 8080,
    ]

    static func load(_ name: String) throws -> OpenAPIDocument {
        try OpenAPIDocument(contentsOf: Self.directory.appendingPathComponent("\(name).openapi.yaml").path)
    }
}

/// Checks a response against a document and returns `keyword@path` for each violation.
func violations(
    _ document: OpenAPIDocument,
    _ method: String,
    _ path: String,
    _ status: Int,
    _ body: String,
    contentType: String? = "application/json",
    headers: [String: String]? = nil
) -> [String] {
    document.validateResponse(method: method, path: path, status: status, contentType: contentType, body: Array(body.utf8), headers: headers)
        .map { "\($0.keyword)@\($0.path)" }
}

@Suite("Contract documents: structure")
struct ContractDocumentStructureTests {
    @Test(arguments: Contracts.ports.keys.sorted())
    func loadsWithTheEmbeddedPort(name: String) throws {
        let document = try Contracts.load(name)
        let port = try #require(Contracts.ports[name])
        #expect(document.root["servers"]?[0]?["url"] == .string("http://127.0.0.1:\(port)"))
        #expect(document.root["openapi"] == .string("3.0.3"))
        #expect(!document.operations.isEmpty)
    }

    @Test(arguments: Contracts.ports.keys.sorted())
    func everyOperationDocumentsItsFailures(name: String) throws {
        let document = try Contracts.load(name)
        for operation in document.operations {
            let label = "\(name): \(operation.method) \(operation.pathTemplate)"
            let statuses = operation.documentedStatuses
            #expect(operation.operationID != nil, "\(label) has no operationId")
            #expect(!statuses.contains("default"), "\(label) must list its statuses, not a default")
            if operation.requiresAuthentication {
                #expect(statuses.contains("401"), "\(label) needs a token but does not document 401")
            }
            if operation.definition["requestBody"] != nil {
                for status in ["400", "413"] {
                    #expect(statuses.contains(status), "\(label) takes a body but does not document \(status)")
                }
            }
            if operation.definition["parameters"]?.arrayValue?.contains(where: { document.resolve($0)["in"] == "query" }) == true {
                #expect(statuses.contains("400"), "\(label) takes query parameters but does not document 400")
            }
            // Every response says what it is; every error is JSON with a schema (the service's envelope).
            for status in statuses {
                let response = document.resolve(try #require(operation.definition["responses"]?[status]))
                #expect(response["description"]?.stringValue?.isEmpty == false, "\(label) \(status) has no description")
                if let code = Int(status), code >= 400 {
                    #expect(response["content"]?["application/json"]?["schema"] != nil, "\(label) \(status) has no JSON schema")
                }
            }
        }
    }

    @Test func protectedOperationsAreTheOnesTheSpecSays() throws {
        let users = try Contracts.load("users")
        #expect(users.operation(method: "POST", path: "/api/auth/register")?.requiresAuthentication == false)
        #expect(users.operation(method: "POST", path: "/api/auth/login")?.requiresAuthentication == false)
        #expect(users.operation(method: "GET", path: "/api/users/me")?.requiresAuthentication == true)
        #expect(users.operation(method: "GET", path: "/api/health/ready")?.requiresAuthentication == false)
        for name in ["payments-python", "payments-java"] {
            let payments = try Contracts.load(name)
            let (payment, other) = (payments.operations.filter { $0.pathTemplate.hasPrefix("/api/payments") }, payments.operations)
            #expect(payment.filter { !$0.requiresAuthentication }.map(\.pathTemplate) == [])
            #expect(other.filter { !$0.pathTemplate.hasPrefix("/api/payments") && $0.requiresAuthentication }.map(\.pathTemplate) == [])
        }
        let reviews = try Contracts.load("reviews")
        #expect(reviews.operations.filter { ($0.method == "GET") == $0.requiresAuthentication }.map(\.pathTemplate) == [])
        #expect(try Contracts.load("gateway").operations.filter { $0.requiresAuthentication }.isEmpty)
    }
}

@Suite("Contract documents: users")
struct UsersContractTests {
    let document: OpenAPIDocument

    init() throws {
        self.document = try Contracts.load("users")
    }

    static let user = """
        {"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","username":"ada","email":"ada@example.com","firstName":"Ada",\
        "lastName":"Lovelace","phone":null,"address":"12 St James's Square","active":true,"emailVerified":false,\
        "roles":["ROLE_USER"],"createdAt":"2026-11-29T15:13:05.123Z","lastLogin":null}
        """

    @Test func validResponses() {
        let registered = #"{"message":"User registered successfully!","success":true,"user":\#(Self.user)}"#
        #expect(violations(self.document, "POST", "/api/auth/register", 201, registered).isEmpty)
        let login = """
            {"token":"eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiIxIn0.c2ln","type":"Bearer","userId":"3f2504e0-4f89-41d3-9a0c-0305e82c3301",\
            "username":"ada","email":"ada@example.com","roles":["ROLE_USER","ROLE_ADMIN"]}
            """
        #expect(violations(self.document, "POST", "/api/auth/login", 200, login).isEmpty)
        #expect(violations(self.document, "POST", "/api/auth/validate", 200, #"{"message":"Token is valid","success":true}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/users/me", 200, Self.user).isEmpty)
        #expect(violations(self.document, "GET", "/api/users/3f2504e0-4f89-41d3-9a0c-0305e82c3301", 200, Self.user).isEmpty)
        #expect(violations(self.document, "GET", "/api/users?page=0&size=5", 200, "[\(Self.user),\(Self.user)]").isEmpty)
        #expect(violations(self.document, "PUT", "/api/users/x", 200, Self.user).isEmpty)
        #expect(violations(self.document, "DELETE", "/api/users/x", 200, #"{"message":"User deleted successfully","success":true}"#).isEmpty)
        #expect(violations(self.document, "POST", "/api/users/x/deactivate", 200, Self.user).isEmpty)
        #expect(violations(self.document, "GET", "/api/health", 200, #"{"status":"healthy","service":"user-service","version":"1.0.0"}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/health/live", 200, #"{"status":"UP"}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/health/ready", 200, #"{"status":"READY","checks":{"postgres":"UP"}}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/health/ready", 503, #"{"status":"NOT_READY","checks":{"postgres":"DOWN"}}"#).isEmpty)
        #expect(violations(self.document, "GET", "/metrics", 200, "# TYPE x counter\nx 1\n", contentType: "text/plain; version=0.0.4").isEmpty)
        let error = #"{"message":"Invalid username or password","success":false}"#
        #expect(violations(self.document, "POST", "/api/auth/login", 401, error).isEmpty)
        #expect(violations(self.document, "POST", "/api/auth/login", 429, error, headers: ["Retry-After": "60"]).isEmpty)
        #expect(violations(self.document, "GET", "/api/users/not-a-uuid", 404, error).isEmpty)
    }

    @Test func wrongFieldsAndTypesAreCaught() {
        let noPhone = Self.user.replacingOccurrences(of: #""phone":null,"#, with: "")
        #expect(violations(self.document, "GET", "/api/users/me", 200, noPhone) == ["required@$.phone"])
        let badEmail = Self.user.replacingOccurrences(of: "ada@example.com", with: "ada")
        #expect(violations(self.document, "GET", "/api/users/me", 200, badEmail) == ["format@$.email"])
        let noMillis = Self.user.replacingOccurrences(of: "15:13:05.123Z", with: "15:13:05Z")
        #expect(violations(self.document, "GET", "/api/users/me", 200, noMillis) == ["pattern@$.createdAt"])
        let stringActive = Self.user.replacingOccurrences(of: #""active":true"#, with: #""active":"true""#)
        #expect(violations(self.document, "GET", "/api/users/me", 200, stringActive) == ["type@$.active"])
        let extra = Self.user.replacingOccurrences(of: #""active":true"#, with: #""active":true,"password":"x""#)
        #expect(violations(self.document, "GET", "/api/users/me", 200, extra) == ["additionalProperties@$.password"])
        #expect(violations(self.document, "GET", "/api/users/me", 401, #"{"message":"x","success":true}"#) == ["enum@$.success"])
        #expect(
            violations(self.document, "GET", "/api/users/me", 401, #"{"error":"x"}"#) == [
                "required@$.message", "required@$.success", "additionalProperties@$.error",
            ]
        )
        #expect(violations(self.document, "GET", "/api/users/me", 403, #"{"message":"x","success":false}"#) == ["status@status"])
        #expect(
            violations(self.document, "POST", "/api/auth/login", 429, #"{"message":"x","success":false}"#, headers: [:]) == [
                "header@headers.retry-after"
            ]
        )
        #expect(violations(self.document, "GET", "/api/health/ready", 200, #"{"status":"READY"}"#) == ["required@$.checks"])
    }
}

@Suite("Contract documents: payments-python")
struct PaymentsPythonContractTests {
    let document: OpenAPIDocument

    init() throws {
        self.document = try Contracts.load("payments-python")
    }

    static let payment = """
        {"payment_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","order_id":"order-1","user_id":"u_1","amount":19.9,\
        "currency":"USD","payment_method":"credit_card","status":"completed","transaction_id":"TXN-0123456789AB",\
        "message":"Payment processed successfully","book_id":"book-1","created_at":"2026-11-29T15:13:05.123Z",\
        "updated_at":"2026-11-29T15:13:05.123Z","refunded_at":null}
        """

    static func envelope(_ status: String, _ data: String, errors: String? = nil) -> String {
        let errorsMember = errors.map { #","errors":\#($0)"# } ?? ""
        return #"{"status":"\#(status)","message":"m","timestamp":"2026-11-29T15:13:05.123Z","data":\#(data)\#(errorsMember)}"#
    }

    @Test func validResponses() {
        #expect(violations(self.document, "POST", "/api/payments", 200, Self.envelope("success", Self.payment)).isEmpty)
        #expect(violations(self.document, "POST", "/api/payments/", 200, Self.envelope("success", Self.payment)).isEmpty)
        let declined = Self.payment.replacingOccurrences(
            of: #""completed","transaction_id":"TXN-0123456789AB","message":"Payment processed successfully""#,
            with: #""failed","transaction_id":null,"message":"Payment declined by gateway""#
        )
        #expect(violations(self.document, "POST", "/api/payments", 402, Self.envelope("error", declined)).isEmpty)
        let validation = Self.envelope("validation_error", "null", errors: #"[{"field":"amount","message":"must be at least 0.01"}]"#)
        #expect(violations(self.document, "POST", "/api/payments", 400, validation).isEmpty)
        #expect(violations(self.document, "POST", "/api/payments", 409, Self.envelope("error", "null")).isEmpty)
        #expect(violations(self.document, "POST", "/api/payments", 503, Self.envelope("error", "null")).isEmpty)
        #expect(
            violations(self.document, "GET", "/api/payments/3f2504e0-4f89-41d3-9a0c-0305e82c3301", 200, Self.envelope("success", Self.payment))
                .isEmpty
        )
        #expect(violations(self.document, "GET", "/api/payments/nope", 404, Self.envelope("not_found", "null")).isEmpty)
        #expect(violations(self.document, "GET", "/api/payments/nope", 401, Self.envelope("unauthorized", "null")).isEmpty)
        let page = #"{"payments":[\#(Self.payment)],"total":1,"page":1,"limit":20}"#
        #expect(violations(self.document, "GET", "/api/payments/user/u_1?page=1", 200, Self.envelope("success", page)).isEmpty)
        let refund = #"{"payment_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","status":"refunded","refunded_at":"2026-11-29T16:00:00.000Z"}"#
        #expect(
            violations(self.document, "POST", "/api/payments/3f2504e0-4f89-41d3-9a0c-0305e82c3301/refund", 200, Self.envelope("success", refund))
                .isEmpty
        )
        #expect(violations(self.document, "POST", "/api/payments/validate", 200, Self.envelope("success", #"{"valid":true}"#)).isEmpty)
        let invalidCard = Self.envelope("validation_error", #"{"valid":false}"#, errors: #"[{"field":"cvv","message":"must be 3 or 4 digits"}]"#)
        #expect(violations(self.document, "POST", "/api/payments/validate", 400, invalidCard).isEmpty)
        #expect(
            violations(self.document, "GET", "/api/health", 200, #"{"status":"healthy","service":"payment-service-python","version":"1"}"#).isEmpty
        )
    }

    @Test func wrongFieldsAndTypesAreCaught() {
        let threeDecimals = Self.payment.replacingOccurrences(of: #""amount":19.9"#, with: #""amount":19.999"#)
        #expect(violations(self.document, "GET", "/api/payments/p", 200, Self.envelope("success", threeDecimals)) == ["multipleOf@$.data.amount"])
        let stringAmount = Self.payment.replacingOccurrences(of: #""amount":19.9"#, with: #""amount":"19.90""#)
        #expect(violations(self.document, "GET", "/api/payments/p", 200, Self.envelope("success", stringAmount)) == ["type@$.data.amount"])
        let upperCase = Self.payment.replacingOccurrences(of: #""status":"completed""#, with: #""status":"COMPLETED""#)
        #expect(violations(self.document, "GET", "/api/payments/p", 200, Self.envelope("success", upperCase)) == ["enum@$.data.status"])
        let badTransaction = Self.payment.replacingOccurrences(of: "TXN-0123456789AB", with: "TXN-123")
        #expect(
            violations(self.document, "GET", "/api/payments/p", 200, Self.envelope("success", badTransaction)) == ["pattern@$.data.transaction_id"]
        )
        let camelCase = Self.payment.replacingOccurrences(of: "payment_id", with: "paymentId")
        #expect(
            violations(self.document, "GET", "/api/payments/p", 200, Self.envelope("success", camelCase)) == [
                "required@$.data.payment_id", "additionalProperties@$.data.paymentId",
            ]
        )
        let noTransaction = Self.payment.replacingOccurrences(of: #""TXN-0123456789AB""#, with: "null")
        #expect(violations(self.document, "POST", "/api/payments", 200, Self.envelope("success", noTransaction)) == ["type@$.data.transaction_id"])
        let withoutData = #"{"status":"not_found","message":"m","timestamp":"2026-11-29T15:13:05.123Z"}"#
        #expect(violations(self.document, "GET", "/api/payments/p", 404, withoutData) == ["required@$.data"])
        #expect(violations(self.document, "GET", "/api/payments/p", 404, Self.envelope("not_found", "{}")) == ["enum@$.data"])
        #expect(violations(self.document, "GET", "/api/payments/p", 404, Self.envelope("error", "null")) == ["enum@$.status"])
        let stringErrors = Self.envelope("validation_error", "null", errors: #"["amount is required"]"#)
        #expect(violations(self.document, "POST", "/api/payments", 400, stringErrors) == ["type@$.errors[0]"])
        let pageWithoutLimit = #"{"payments":[],"total":0,"page":1}"#
        #expect(
            violations(self.document, "GET", "/api/payments/user/u", 200, Self.envelope("success", pageWithoutLimit)) == ["required@$.data.limit"]
        )
        #expect(
            violations(self.document, "POST", "/api/payments/validate", 200, Self.envelope("success", #"{"valid":false}"#)) == ["enum@$.data.valid"]
        )
    }
}

@Suite("Contract documents: payments-java")
struct PaymentsJavaContractTests {
    let document: OpenAPIDocument

    init() throws {
        self.document = try Contracts.load("payments-java")
    }

    static let payment = """
        {"paymentId":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","orderId":"order-1","userId":"u_1","amount":19.90,\
        "currency":"EUR","paymentMethod":"CREDIT_CARD","status":"COMPLETED","transactionId":"TXN-0123456789AB",\
        "message":"Payment processed successfully","createdAt":"2026-11-29T15:13:05.123Z","updatedAt":"2026-11-29T15:13:05.123Z"}
        """

    static func response(_ status: String, data: String? = nil, errors: String? = nil) -> String {
        let dataMember = data.map { #","data":\#($0)"# } ?? ""
        let errorsMember = errors.map { #","errors":\#($0)"# } ?? ""
        return #"{"status":"\#(status)","message":"m"\#(dataMember)\#(errorsMember),"timestamp":"2026-11-29T15:13:05.123Z"}"#
    }

    @Test func validResponses() {
        #expect(violations(self.document, "POST", "/api/payments", 201, Self.response("success", data: Self.payment)).isEmpty)
        let declined = Self.payment.replacingOccurrences(
            of: #""COMPLETED","transactionId":"TXN-0123456789AB","message":"Payment processed successfully""#,
            with: #""FAILED","message":"Payment declined by gateway""#
        )
        #expect(violations(self.document, "POST", "/api/payments", 402, Self.response("error", data: declined)).isEmpty)
        #expect(violations(self.document, "POST", "/api/payments", 400, Self.response("error", errors: #"["amount must be at least 0.01"]"#)).isEmpty)
        #expect(violations(self.document, "GET", "/api/payments/x", 404, Self.response("error")).isEmpty)
        let refunded = Self.payment.replacingOccurrences(
            of: #""status":"COMPLETED""#,
            with: #""status":"REFUNDED","refundedAt":"2026-11-30T00:00:00.000Z""#
        )
        #expect(violations(self.document, "POST", "/api/payments/x/refund", 200, Self.response("success", data: refunded)).isEmpty)
        let page = #"{"payments":[\#(Self.payment)],"total":1,"page":1,"limit":20}"#
        #expect(violations(self.document, "GET", "/api/payments/user/u_1", 200, Self.response("success", data: page)).isEmpty)
        #expect(violations(self.document, "POST", "/api/payments/validate", 400, Self.response("error", errors: #"["Invalid card number"]"#)).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/health", 200, #"{"status":"UP","components":{"db":{"status":"UP"}}}"#).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/health", 503, #"{"status":"DOWN","components":{"db":{"status":"DOWN"}}}"#).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/health/readiness", 503, #"{"status":"OUT_OF_SERVICE"}"#).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/info", 200, #"{"app":{"name":"payment-service-java","version":"1.0.0"}}"#).isEmpty)
        #expect(
            violations(self.document, "GET", "/actuator/prometheus", 200, "x 1\n", contentType: "text/plain; version=0.0.4; charset=utf-8").isEmpty
        )
    }

    @Test func wrongFieldsAndTypesAreCaught() {
        let oneDecimal = Self.payment.replacingOccurrences(of: #""amount":19.90"#, with: #""amount":19.9"#)
        #expect(
            violations(self.document, "GET", "/api/payments/p", 200, Self.response("success", data: oneDecimal)) == ["x-decimal-places@$.data.amount"]
        )
        let nullBook = Self.payment.replacingOccurrences(of: #""message""#, with: #""bookId":null,"message""#)
        #expect(violations(self.document, "GET", "/api/payments/p", 200, Self.response("success", data: nullBook)) == ["type@$.data.bookId"])
        let lowerCase = Self.payment.replacingOccurrences(of: #""COMPLETED""#, with: #""completed""#)
        #expect(violations(self.document, "GET", "/api/payments/p", 200, Self.response("success", data: lowerCase)) == ["enum@$.data.status"])
        let snakeCase = Self.payment.replacingOccurrences(of: "orderId", with: "order_id")
        #expect(
            violations(self.document, "GET", "/api/payments/p", 200, Self.response("success", data: snakeCase)) == [
                "required@$.data.orderId", "additionalProperties@$.data.order_id",
            ]
        )
        let pending = Self.payment.replacingOccurrences(of: #""COMPLETED""#, with: #""PENDING""#)
        #expect(violations(self.document, "POST", "/api/payments", 201, Self.response("success", data: pending)) == ["enum@$.data.status"])
        let badTimestamp = Self.response("error").replacingOccurrences(of: "2026-11-29T15:13:05.123Z", with: "2026-11-29T15:13:05.123+00:00")
        #expect(violations(self.document, "GET", "/api/payments/p", 404, badTimestamp) == ["pattern@$.timestamp"])
        #expect(violations(self.document, "GET", "/api/payments/p", 404, Self.response("error", data: "null")) == ["additionalProperties@$.data"])
        #expect(violations(self.document, "GET", "/api/payments/p", 404, Self.response("error", errors: #"[{"field":"x"}]"#)) == ["type@$.errors[0]"])
    }
}

@Suite("Contract documents: reviews")
struct ReviewsContractTests {
    let document: OpenAPIDocument

    init() throws {
        self.document = try Contracts.load("reviews")
    }

    static let review = """
        {"review_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","book_id":"book-1","user_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3302",\
        "rating":5,"title":"Great","comment":"Loved it","verified_purchase":true,"helpful_count":0,"status":"active",\
        "created_at":"2026-11-29T15:13:05.123Z","updated_at":"2026-11-29T15:13:05.123Z"}
        """

    @Test func validResponses() {
        #expect(violations(self.document, "POST", "/api/reviews", 201, Self.review).isEmpty)
        #expect(violations(self.document, "GET", "/api/reviews/3f2504e0-4f89-41d3-9a0c-0305e82c3301", 200, Self.review).isEmpty)
        #expect(violations(self.document, "PUT", "/api/reviews/r", 200, Self.review).isEmpty)
        #expect(violations(self.document, "POST", "/api/reviews/r/helpful", 200, Self.review).isEmpty)
        let deleted = #"{"message":"Review deleted successfully","review_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"}"#
        #expect(violations(self.document, "DELETE", "/api/reviews/r", 200, deleted).isEmpty)
        let page = #"{"book_id":"book-1","reviews":[\#(Self.review)],"page":1,"limit":20,"count":1,"total":1}"#
        #expect(violations(self.document, "GET", "/api/reviews/book/book-1?page=1&limit=20", 200, page).isEmpty)
        let userPage = #"{"user_id":"u","reviews":[],"page":2,"limit":10,"count":0,"total":3}"#
        #expect(violations(self.document, "GET", "/api/reviews/user/u", 200, userPage).isEmpty)
        let stats = #"{"book_id":"book-1","average_rating":4.33,"total_reviews":3,"rating_distribution":{"1":0,"2":0,"3":0,"4":2,"5":1}}"#
        #expect(violations(self.document, "GET", "/api/reviews/book/book-1/stats", 200, stats).isEmpty)
        let noStats = #"{"book_id":"b","average_rating":0,"total_reviews":0,"rating_distribution":{"1":0,"2":0,"3":0,"4":0,"5":0}}"#
        #expect(violations(self.document, "GET", "/api/reviews/book/b/stats", 200, noStats).isEmpty)
        #expect(violations(self.document, "POST", "/api/reviews", 400, #"{"errors":["rating must be an integer between 1 and 5"]}"#).isEmpty)
        #expect(violations(self.document, "POST", "/api/reviews", 409, #"{"error":"You have already reviewed this book"}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/reviews/r", 404, #"{"error":"Review not found"}"#).isEmpty)
        #expect(violations(self.document, "GET", "/api/health", 200, #"{"status":"healthy","service":"review-service","version":"1"}"#).isEmpty)
    }

    @Test func wrongFieldsAndTypesAreCaught() {
        let fractional = Self.review.replacingOccurrences(of: #""rating":5"#, with: #""rating":4.5"#)
        #expect(violations(self.document, "GET", "/api/reviews/r", 200, fractional) == ["type@$.rating"])
        let stringRating = Self.review.replacingOccurrences(of: #""rating":5"#, with: #""rating":"5""#)
        #expect(violations(self.document, "GET", "/api/reviews/r", 200, stringRating) == ["type@$.rating"])
        let boolRating = Self.review.replacingOccurrences(of: #""rating":5"#, with: #""rating":true"#)
        #expect(violations(self.document, "GET", "/api/reviews/r", 200, boolRating) == ["type@$.rating"])
        let sixStars = Self.review.replacingOccurrences(of: #""rating":5"#, with: #""rating":6"#)
        #expect(violations(self.document, "GET", "/api/reviews/r", 200, sixStars) == ["maximum@$.rating"])
        let negativeHelpful = Self.review.replacingOccurrences(of: #""helpful_count":0"#, with: #""helpful_count":-1"#)
        #expect(violations(self.document, "GET", "/api/reviews/r", 200, negativeHelpful) == ["minimum@$.helpful_count"])
        let precise = #"{"book_id":"b","average_rating":4.333,"total_reviews":3,"rating_distribution":{"1":0,"2":0,"3":0,"4":2,"5":1}}"#
        #expect(violations(self.document, "GET", "/api/reviews/book/b/stats", 200, precise) == ["multipleOf@$.average_rating"])
        let missingFive = #"{"book_id":"b","average_rating":4,"total_reviews":3,"rating_distribution":{"1":0,"2":0,"3":0,"4":3}}"#
        #expect(violations(self.document, "GET", "/api/reviews/book/b/stats", 200, missingFive) == [#"required@$.rating_distribution["5"]"#])
        #expect(violations(self.document, "POST", "/api/reviews", 400, #"{"error":"bad"}"#) == ["required@$.errors", "additionalProperties@$.error"])
        #expect(
            violations(self.document, "GET", "/api/reviews/r", 404, #"{"message":"not found"}"#) == [
                "required@$.error", "additionalProperties@$.message",
            ]
        )
        #expect(violations(self.document, "GET", "/api/reviews/r", 401, #"{"error":"x"}"#) == ["status@status"])
    }
}

@Suite("Contract documents: gateway")
struct GatewayContractTests {
    let document: OpenAPIDocument

    init() throws {
        self.document = try Contracts.load("gateway")
    }

    static let headers = ["X-Request-ID": "req-1", "X-Gateway-Service": "bookstore-gateway"]

    @Test func ownEndpoints() {
        let health = #"{"status":"UP","components":{"users":{"status":"UP"},"reviews":{"status":"DOWN"}}}"#
        #expect(violations(self.document, "GET", "/actuator/health", 200, health, headers: Self.headers).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/health/liveness", 200, #"{"status":"UP"}"#, headers: Self.headers).isEmpty)
        #expect(violations(self.document, "GET", "/actuator/health/readiness", 503, #"{"status":"OUT_OF_SERVICE"}"#, headers: Self.headers).isEmpty)
        #expect(violations(self.document, "GET", "/metrics", 200, "x 1\n", contentType: "text/plain", headers: Self.headers).isEmpty)
        #expect(
            violations(self.document, "GET", "/actuator/health/liveness", 200, #"{"status":"UP"}"#, headers: [:]) == [
                "header@headers.x-request-id", "header@headers.x-gateway-service",
            ]
        )
        #expect(violations(self.document, "GET", "/actuator/health/readiness", 503, #"{"status":"DOWN"}"#) == ["enum@$.status"])
    }

    @Test func errorEnvelope() throws {
        let schema = try #require(self.document.schema(named: "GatewayError"))
        let timeout = try JSON.parse(
            #"{"status":"error","message":"Upstream timed out","requestId":"req-1","#
                + #""timestamp":"2026-11-29T15:13:05.123Z","error":"upstream_timeout"}"#
        )
        #expect(self.document.validate(timeout, against: schema).isEmpty)
        let minimal = try JSON.parse(#"{"status":"error","message":"Unauthorized","requestId":"req-1","timestamp":"2026-11-29T15:13:05.123Z"}"#)
        #expect(self.document.validate(minimal, against: schema).isEmpty)
        let missingRequestID = try JSON.parse(#"{"status":"error","message":"Bad gateway","timestamp":"2026-11-29T15:13:05.123Z"}"#)
        #expect(self.document.validate(missingRequestID, against: schema).map(\.path) == ["$.requestId"])
        for name in ["Unauthorized", "NotFound", "PayloadTooLarge", "TooManyRequests", "BadGateway", "ServiceUnavailable", "GatewayTimeout"] {
            let response = try #require(self.document.resolveReference("#/components/responses/\(name)"))
            #expect(response["content"]?["application/json"]?["schema"] == ["$ref": "#/components/schemas/GatewayError"])
        }
        let limited = try #require(self.document.resolveReference("#/components/responses/TooManyRequests"))
        #expect(self.document.resolve(try #require(limited["headers"]?["Retry-After"]))["required"] == .bool(true))
    }
}
