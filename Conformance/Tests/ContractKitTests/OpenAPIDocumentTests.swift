import ContractKit
import JSONKit
import Testing

@Suite("OpenAPI documents: loading and references")
struct OpenAPIDocumentLoadingTests {
    static let treeDocument = """
        openapi: 3.0.3
        info: {title: Trees, version: "1.0"}
        paths: {}
        components:
          schemas:
            Node:
              type: object
              required: [value]
              additionalProperties: false
              properties:
                value: {type: integer}
                children:
                  type: array
                  items: {$ref: '#/components/schemas/Node'}
            Alias: {$ref: '#/components/schemas/Node'}
            a/b~c: {type: string}
            SelfLoop:
              allOf:
                - $ref: '#/components/schemas/SelfLoop'
            WithSiblings:
              $ref: '#/components/schemas/Text'
              type: integer
            Text: {type: string}
            Money: {type: number, multipleOf: 0.01, minimum: 0.01, maximum: 1000000}
        """

    @Test func yamlScalarsBecomeJSON() throws {
        let document = try OpenAPIDocument(
            yaml: """
                openapi: 3.0.3
                info: {title: Scalars, version: "2"}
                paths: {}
                x-values:
                  int: 42
                  negative: -7
                  float: 19.90
                  exponent: 1e6
                  quoted: '200'
                  on: on
                  yes: no
                  truth: true
                  nothing: null
                  tilde: ~
                  date: 2026-11-29
                  hex: 0x1F
                  200: ok
                """
        )
        #expect(document.title == "Scalars")
        #expect(document.version == "2")
        let values = try #require(document.root["x-values"])
        #expect(values["int"] == .number("42"))
        #expect(values["negative"] == .number("-7"))
        #expect(values["float"] == .number("19.90"))
        #expect(values["exponent"] == .number("1e6"))
        #expect(values["quoted"] == .string("200"))
        #expect(values["on"] == .string("on"))
        #expect(values["yes"] == .string("no"))
        #expect(values["truth"] == .bool(true))
        #expect(values["nothing"] == .null)
        #expect(values["tilde"] == .null)
        #expect(values["date"] == .string("2026-11-29"))
        #expect(values["hex"] == .number("31"))
        #expect(values["200"] == .string("ok"))
    }

    @Test func refusesWhatItCannotHandle() {
        let head = "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}\n"
        let cases: [(yaml: String, message: String)] = [
            (head + "components: {schemas: {A: {$ref: '#/components/schemas/B'}}}", "does not resolve"),
            (head + "components: {schemas: {A: {$ref: '#/components/schemas/B'}, B: {$ref: '#/components/schemas/A'}}}", "cycle"),
            (head + "components: {schemas: {A: {$ref: 'other.yaml#/A'}}}", "external"),
            ("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: {}", "3.0"),
            ("swagger: '2.0'\npaths: {}", "openapi"),
            ("openapi: 3.0.3\ninfo: {title: x, version: '1'}", "paths"),
            ("openapi: 3.0.3\nopenapi: 3.0.2\npaths: {}", "duplicate"),
            ("openapi: [3.0.3", "invalid YAML"),
            ("", "empty"),
        ]
        for (yaml, message) in cases {
            let error = #expect(throws: OpenAPIDocumentError.self) { try OpenAPIDocument(yaml: yaml) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error"), expected \(message)")
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: OpenAPIDocumentError.self) {
            try OpenAPIDocument(contentsOf: "/nonexistent/contract.yaml")
        }
    }

    @Test func recursiveSchemasThroughReferences() throws {
        let document = try OpenAPIDocument(yaml: Self.treeDocument)
        let node = try #require(document.schema(named: "Node"))
        let tree = try JSON.parse(#"{"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]}"#)
        #expect(document.validate(tree, against: node).isEmpty)

        let broken = try JSON.parse(#"{"value":1,"children":[{"value":2,"children":[{"value":"3","extra":0}]}]}"#)
        let violations = document.validate(broken, against: node)
        #expect(
            violations.map { "\($0.keyword)@\($0.path)" } == [
                "type@$.children[0].children[0].value", "additionalProperties@$.children[0].children[0].extra",
            ]
        )
        #expect(document.validate(tree, against: try #require(document.schema(named: "Alias"))).isEmpty)
    }

    @Test func referenceCycleThatConsumesNothingIsReportedNotLooped() throws {
        let document = try OpenAPIDocument(yaml: Self.treeDocument)
        let violations = document.validate(.string("x"), against: try #require(document.schema(named: "SelfLoop")))
        #expect(violations.count == 1)
        #expect(violations.first?.keyword == "schema")
        #expect(violations.first?.message.contains("circular $ref") == true)
    }

    @Test func referenceSiblingsAreIgnoredAsInOpenAPI30() throws {
        let document = try OpenAPIDocument(yaml: Self.treeDocument)
        let schema = try #require(document.schema(named: "WithSiblings"))
        #expect(document.validate(.string("x"), against: schema).isEmpty)
        #expect(document.validate(.number("1"), against: schema).map(\.keyword) == ["type"])
    }

    @Test func pointerEscapesAndResolution() throws {
        let document = try OpenAPIDocument(yaml: Self.treeDocument)
        let escaped = try #require(document.schema(named: "a/b~c"))
        #expect(escaped == ["$ref": "#/components/schemas/a~1b~0c"])
        #expect(document.resolve(escaped) == ["type": "string"])
        #expect(document.resolve(["$ref": "#/components/schemas/Alias"])["type"] == .string("object"))
        #expect(document.resolveReference("#/components/schemas/Nope") == nil)
        #expect(document.schema(named: "Nope") == nil)
        #expect(document.resolve(.string("plain")) == .string("plain"))
    }

    @Test func moneyIsCheckedOnTheLiteral() throws {
        let document = try OpenAPIDocument(yaml: Self.treeDocument)
        let money = try #require(document.schema(named: "Money"))
        for valid in ["0.01", "19.90", "19.9", "1000000", "1000000.00", "42"] {
            #expect(document.validate(.number(valid), against: money).isEmpty, "\(valid)")
        }
        for invalid in ["0", "0.001", "19.999", "1000000.01", "-1", "0.30000000000000004"] {
            #expect(!document.validate(.number(invalid), against: money).isEmpty, "\(invalid)")
        }
    }
}

@Suite("OpenAPI documents: operations and responses")
struct OpenAPIDocumentResponseTests {
    static let document = """
        openapi: 3.0.3
        info: {title: Shop, version: "1"}
        security:
          - bearerAuth: []
        paths:
          /api/payments/{payment_id}:
            get:
              operationId: getPayment
              responses:
                "200":
                  description: ok
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Payment'}
                4XX:
                  description: client error
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Error'}
                default:
                  description: anything else
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Error'}
          /api/payments/validate:
            post:
              operationId: validateCard
              responses:
                "200": {description: ok, content: {application/json: {schema: {type: object}}}}
          /api/payments/{payment_id}/refund:
            post:
              operationId: refund
              responses:
                "204": {description: refunded}
                "429":
                  description: slow down
                  headers:
                    Retry-After:
                      required: true
                      schema: {type: integer, minimum: 1}
                    X-Optional:
                      schema: {type: string}
                  content:
                    application/problem+json:
                      schema: {$ref: '#/components/schemas/Error'}
          /api/reviews/book/{book_id}:
            get:
              responses:
                "200": {$ref: '#/components/responses/Any'}
          /api/reviews/{review_id}:
            $ref: '#/components/pathItems/Review'
          /api/reviews/book/{book_id}/stats:
            get:
              responses:
                "200": {description: ok}
          /api/files/{name}.json:
            get:
              security: []
              responses:
                "200": {description: ok, content: {"*/*": {schema: {type: string}}}}
          /metrics/:
            get:
              security: []
              responses:
                "200": {description: metrics, content: {text/plain: {schema: {type: string}}}}
          /:
            get:
              responses:
                "200": {description: root, content: {application/*: {}}}
        components:
          securitySchemes:
            bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
          responses:
            Any: {description: anything, content: {application/json: {}}}
          pathItems:
            Review:
              get:
                responses:
                  "200": {description: ok}
              delete:
                responses:
                  "200": {description: ok}
          schemas:
            Payment:
              type: object
              required: [payment_id, amount]
              properties:
                payment_id: {type: string, format: uuid}
                amount: {type: number, multipleOf: 0.01}
            Error:
              type: object
              required: [message]
              additionalProperties: false
              properties:
                message: {type: string}
        """

    let document: OpenAPIDocument

    init() throws {
        self.document = try OpenAPIDocument(yaml: Self.document)
    }

    @Test(
        arguments: [
            ("GET", "/api/payments/abc", "/api/payments/{payment_id}", ["payment_id": "abc"]),
            ("get", "/api/payments/abc", "/api/payments/{payment_id}", ["payment_id": "abc"]),
            ("GET", "/api/payments/abc/", "/api/payments/{payment_id}", ["payment_id": "abc"]),
            ("GET", "/api/payments/abc?expand=1#top", "/api/payments/{payment_id}", ["payment_id": "abc"]),
            ("GET", "http://127.0.0.1:5000/api/payments/abc", "/api/payments/{payment_id}", ["payment_id": "abc"]),
            ("GET", "/api/payments/a%20b", "/api/payments/{payment_id}", ["payment_id": "a b"]),
            // The literal path wins for POST; for GET only the template defines the method.
            ("POST", "/api/payments/validate", "/api/payments/validate", [:]),
            ("GET", "/api/payments/validate", "/api/payments/{payment_id}", ["payment_id": "validate"]),
            ("POST", "/api/payments/p1/refund", "/api/payments/{payment_id}/refund", ["payment_id": "p1"]),
            ("GET", "/api/reviews/book/abc", "/api/reviews/book/{book_id}", ["book_id": "abc"]),
            ("GET", "/api/reviews/book/abc/stats", "/api/reviews/book/{book_id}/stats", ["book_id": "abc"]),
            ("GET", "/api/reviews/book", "/api/reviews/{review_id}", ["review_id": "book"]),
            ("DELETE", "/api/reviews/r1", "/api/reviews/{review_id}", ["review_id": "r1"]),
            ("GET", "/api/files/report.v1.json", "/api/files/{name}.json", ["name": "report.v1"]),
            ("GET", "/metrics", "/metrics/", [:]),
            ("GET", "/", "/", [:]),
        ] as [(String, String, String, [String: String])]
    )
    func matchesOperations(method: String, path: String, template: String, parameters: [String: String]) throws {
        let operation = try #require(self.document.operation(method: method, path: path))
        #expect(operation.pathTemplate == template)
        #expect(operation.pathParameters == parameters)
        #expect(operation.method == method.uppercased())
    }

    @Test(
        arguments: [
            ("DELETE", "/api/reviews/book/abc"),
            ("PATCH", "/api/payments/abc"),
            ("GET", "/api/unknown"),
            ("GET", "/api/payments"),
            ("GET", "/api/payments//refund"),
            ("GET", "/api/files/.json"),
            ("POST", "/api/payments/abc/refund/extra"),
        ]
    )
    func unknownOperationsAreNil(method: String, path: String) {
        #expect(self.document.operation(method: method, path: path) == nil)
    }

    @Test func literalWinsWhateverTheDocumentOrder() throws {
        let document = try OpenAPIDocument(
            yaml: """
                openapi: 3.0.3
                info: {title: Order, version: "1"}
                paths:
                  /users/{id}: {get: {responses: {"200": {description: by id}}}}
                  /users/me: {get: {responses: {"200": {description: me}}}}
                  /{a}/{b}: {get: {responses: {"200": {description: any}}}}
                """
        )
        #expect(document.operation(method: "GET", path: "/users/me")?.pathTemplate == "/users/me")
        #expect(document.operation(method: "GET", path: "/users/42")?.pathTemplate == "/users/{id}")
        #expect(document.operation(method: "GET", path: "/teams/42")?.pathTemplate == "/{a}/{b}")
    }

    @Test func operationDetails() throws {
        let payment = try #require(self.document.operation(method: "GET", path: "/api/payments/1"))
        #expect(payment.operationID == "getPayment")
        #expect(payment.documentedStatuses == ["200", "4XX", "default"])
        #expect(payment.requiresAuthentication)
        #expect(self.document.operation(method: "GET", path: "/metrics")?.requiresAuthentication == false)
        #expect(self.document.operations.count == 10)
        #expect(self.document.operations.map(\.method).filter { $0 == "DELETE" }.count == 1)
    }

    static let payment = #"{"payment_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","amount":19.90}"#

    func violations(
        _ method: String,
        _ path: String,
        _ status: Int,
        _ contentType: String?,
        _ body: String,
        headers: [String: String]? = nil
    ) -> [String] {
        self.document.validateResponse(method: method, path: path, status: status, contentType: contentType, body: Array(body.utf8), headers: headers)
            .map { "\($0.keyword)@\($0.path)" }
    }

    @Test func statusFallsBackFromExactToRangeToDefault() {
        #expect(self.violations("GET", "/api/payments/1", 200, "application/json", Self.payment).isEmpty)
        // 200 is documented exactly, so an error body there is wrong.
        #expect(
            self.violations("GET", "/api/payments/1", 200, "application/json", #"{"message":"x"}"#) == ["required@$.payment_id", "required@$.amount"]
        )
        // 404 falls to 4XX, 503 to default: both use the error schema.
        #expect(self.violations("GET", "/api/payments/1", 404, "application/json", #"{"message":"not found"}"#).isEmpty)
        #expect(
            self.violations("GET", "/api/payments/1", 404, "application/json", Self.payment) == [
                "required@$.message", "additionalProperties@$.payment_id", "additionalProperties@$.amount",
            ]
        )
        #expect(self.violations("GET", "/api/payments/1", 503, "application/json", #"{"message":"down"}"#).isEmpty)
        // Without a range or a default, an undocumented status is a violation.
        #expect(self.violations("POST", "/api/payments/validate", 500, "application/json", "{}") == ["status@status"])
    }

    @Test func documentedResponseLookup() throws {
        let operation = try #require(self.document.operation(method: "GET", path: "/api/payments/1"))
        #expect(self.document.response(for: 200, in: operation)?["description"] == "ok")
        #expect(self.document.response(for: 418, in: operation)?["description"] == "client error")
        #expect(self.document.response(for: 302, in: operation)?["description"] == "anything else")
        let refund = try #require(self.document.operation(method: "POST", path: "/api/payments/1/refund"))
        #expect(self.document.response(for: 500, in: refund) == nil)
    }

    @Test func headResponsesHaveNoBodyToCheck() throws {
        let document = try OpenAPIDocument(
            yaml: """
                openapi: 3.0.3
                info: {title: Head, version: "1"}
                paths:
                  /items:
                    head:
                      responses:
                        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
                """
        )
        let violations = document.validateResponse(method: "HEAD", path: "/items", status: 200, contentType: "application/json", body: [UInt8]())
        #expect(violations.isEmpty)
    }

    @Test func undocumentedStatusMessageListsTheDocumentedOnes() {
        let violations = self.document.validateResponse(
            method: "POST",
            path: "/api/payments/validate",
            status: 418,
            contentType: nil,
            body: [UInt8]()
        )
        #expect(violations.map(\.message) == ["expected one of the statuses documented for POST /api/payments/validate (200), saw 418"])
    }

    @Test func unknownOperationIsAViolation() {
        #expect(self.violations("GET", "/api/nope", 200, "application/json", "{}") == ["operation@operation"])
    }

    @Test func contentTypeMustBeDocumented() {
        #expect(self.violations("GET", "/api/payments/1", 200, "application/json; charset=utf-8", Self.payment).isEmpty)
        #expect(self.violations("GET", "/api/payments/1", 200, "Application/JSON", Self.payment).isEmpty)
        #expect(self.violations("GET", "/api/payments/1", 200, "text/html", "<html></html>") == ["contentType@content-type"])
        #expect(self.violations("GET", "/api/payments/1", 200, nil, Self.payment) == ["contentType@content-type"])
        #expect(self.violations("GET", "/api/payments/1", 200, "json", Self.payment) == ["contentType@content-type"])
        // Wildcards: */* takes anything, application/* takes any application type.
        #expect(self.violations("GET", "/api/files/a.json", 200, "image/png", "PNG").isEmpty)
        #expect(self.violations("GET", "/", 200, "application/xml", "<a/>").isEmpty)
        // A structured +json type is parsed and validated as JSON.
        #expect(self.violations("POST", "/api/payments/p/refund", 429, "application/problem+json", #"{"message":"slow"}"#).isEmpty)
        #expect(self.violations("POST", "/api/payments/p/refund", 429, "application/problem+json", #"{"detail":"slow"}"#).count == 2)
    }

    @Test func bodyMustBeJSONWhenJSONIsDocumented() {
        #expect(self.violations("GET", "/api/payments/1", 200, "application/json", "{not json") == ["json@$"])
        #expect(self.violations("GET", "/api/payments/1", 200, "application/json", "") == ["json@$"])
        // A JSON media type without a schema only needs valid JSON.
        #expect(self.violations("GET", "/api/reviews/book/b1", 200, "application/json", "[1,2]").isEmpty)
        #expect(self.violations("GET", "/api/reviews/book/b1", 200, "application/json", "[1,2") == ["json@$"])
        // Non-JSON media types are not parsed.
        #expect(self.violations("GET", "/metrics", 200, "text/plain; version=0.0.4", "# HELP x\n").isEmpty)
    }

    @Test func responsesWithoutContentMustHaveNoBody() {
        #expect(self.violations("POST", "/api/payments/p1/refund", 204, nil, "").isEmpty)
        #expect(self.violations("POST", "/api/payments/p1/refund", 204, "application/json", "{}") == ["content@$"])
    }

    @Test func requiredHeadersAreCheckedWhenHeadersAreGiven() {
        let body = #"{"message":"slow down"}"#
        let contentType = "application/problem+json"
        #expect(self.violations("POST", "/api/payments/p/refund", 429, contentType, body, headers: ["Retry-After": "30"]).isEmpty)
        #expect(self.violations("POST", "/api/payments/p/refund", 429, contentType, body, headers: ["retry-after": "30", "x-optional": "y"]).isEmpty)
        #expect(self.violations("POST", "/api/payments/p/refund", 429, contentType, body, headers: [:]) == ["header@headers.retry-after"])
        #expect(
            self.violations("POST", "/api/payments/p/refund", 429, contentType, body, headers: ["Retry-After": "soon"]) == [
                "type@headers.retry-after"
            ]
        )
        #expect(
            self.violations("POST", "/api/payments/p/refund", 429, contentType, body, headers: ["Retry-After": "0"]) == [
                "minimum@headers.retry-after"
            ]
        )
        #expect(self.violations("POST", "/api/payments/p/refund", 429, contentType, body).isEmpty)
    }
}
