import ContractKit
import Foundation
import JSONKit
import Testing

@Suite("OpenAPI documents: requests")
struct RequestValidationTests {
    static let document = """
        openapi: 3.0.3
        info: {title: t, version: '1'}
        paths:
          /items/{id}:
            parameters:
              - {name: id, in: path, required: true, schema: {type: string, pattern: '^[a-z]+$'}}
            get:
              operationId: getItem
              parameters:
                - {name: page, in: query, schema: {type: integer, minimum: 1, maximum: 10}}
                - {name: X-Key, in: header, schema: {type: string, pattern: '^[\\x21-\\x7E]+$'}}
              responses: {'200': {description: ok}}
            put:
              operationId: putItem
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      anyOf: [{required: [name]}, {required: [size]}]
                      properties:
                        name: {type: string, pattern: '^\\s*[^\\s\\x00]([^\\x00]{0,3}[^\\s\\x00])?\\s*$'}
                        size: {type: integer}
              responses: {'200': {description: ok}, '400': {description: bad}}
        """

    func violations(_ method: String, _ target: String, body: String? = nil, headers: [String: String]? = nil) throws -> [String] {
        try OpenAPIDocument(yaml: Self.document)
            .validateRequest(method: method, target: target, body: body.map { Array($0.utf8) }, headers: headers)
            .map { "\($0.keyword)@\($0.path)" }
    }

    @Test func pathQueryAndHeaderParametersAreChecked() throws {
        #expect(try self.violations("GET", "/items/abc?page=3", headers: ["x-key": "k1"]).isEmpty)
        #expect(try self.violations("GET", "/items/ABC") == ["pattern@path.id"])
        #expect(try self.violations("GET", "/items/abc?page=11") == ["maximum@query.page"])
        #expect(try self.violations("GET", "/items/abc?page=x") == ["type@query.page"])
        #expect(try self.violations("GET", "/items/abc?other=1") == ["parameters@query.other"])
        #expect(try self.violations("GET", "/items/abc", headers: ["X-Key": "has space"]) == ["pattern@header.X-Key"])
        #expect(try self.violations("GET", "/items/abc", body: "{}") == ["requestBody@body"])
        #expect(try self.violations("POST", "/items/abc") == ["operation@operation"])
    }

    @Test func bodiesAreCheckedAgainstTheRequestSchema() throws {
        #expect(try self.violations("PUT", "/items/abc", body: #"{"name":" ab "}"#).isEmpty)
        #expect(try self.violations("PUT", "/items/abc", body: #"{"size":2}"#).isEmpty)
        #expect(try self.violations("PUT", "/items/abc", body: "{}") == ["anyOf@body"])
        #expect(try self.violations("PUT", "/items/abc", body: #"{"name":"toolong"}"#) == ["pattern@body.name"])
        #expect(try self.violations("PUT", "/items/abc", body: "{\"name\":\"a\\u0000b\"}") == ["pattern@body.name"])
        #expect(try self.violations("PUT", "/items/abc", body: #"{"name":"   "}"#) == ["pattern@body.name"])
        #expect(try self.violations("PUT", "/items/abc", body: "{") == ["type@body"])
        #expect(try self.violations("PUT", "/items/abc") == ["required@body"])
    }

    @Test func disagreementsNameTheSideThatIsWrong() throws {
        let document = try OpenAPIDocument(yaml: Self.document)
        let valid = Array(#"{"size":2}"#.utf8)
        let invalid = Array("{}".utf8)
        #expect(document.requestDisagreement(method: "PUT", target: "/items/abc", body: valid, status: 200) == nil)
        #expect(document.requestDisagreement(method: "PUT", target: "/items/abc", body: invalid, status: 400) == nil)
        let strict = document.requestDisagreement(method: "PUT", target: "/items/abc", body: invalid, status: 200)
        #expect(strict?.contains("too strict") == true)
        let loose = document.requestDisagreement(method: "PUT", target: "/items/abc", body: valid, status: 400)
        #expect(loose?.contains("too loose") == true)
        // Statuses about state or credentials are not judged.
        #expect(document.requestDisagreement(method: "PUT", target: "/items/abc", body: valid, status: 409) == nil)
        #expect(document.requestDisagreement(method: "PUT", target: "/items/abc", body: invalid, status: 401) == nil)
    }

    @Test func cardFormats() throws {
        let schema: JSON = ["type": "object", "properties": ["n": ["type": "string", "format": "payment-card-number"]]]
        let document = try OpenAPIDocument(yaml: Self.document)
        for valid in ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4012888888881881", "378282246310005"] {
            #expect(document.validate(["n": .string(valid)], against: schema).isEmpty, "\(valid)")
        }
        for invalid in ["4111111111111112", "0", "4111x111111111111", "41111111111111111111", ""] {
            #expect(!document.validate(["n": .string(invalid)], against: schema).isEmpty, "\(invalid)")
        }
        let expiry: JSON = ["type": "object", "properties": ["e": ["type": "string", "format": "card-expiry"]]]
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = calendar.dateComponents([.year, .month], from: Date())
        let thisMonth = String(format: "%02d/%02d", now.month!, now.year! % 100)
        let nextYear = String(format: "%02d/%02d", now.month!, (now.year! + 1) % 100)
        let lastYear = String(format: "%02d/%02d", now.month!, (now.year! - 1) % 100)
        for valid in [thisMonth, nextYear] {
            #expect(document.validate(["e": .string(valid)], against: expiry).isEmpty, "\(valid)")
        }
        for invalid in [lastYear, "13/40", "00/40", "1/40", "01-40"] {
            #expect(!document.validate(["e": .string(invalid)], against: expiry).isEmpty, "\(invalid)")
        }
    }
}
