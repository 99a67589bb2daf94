import BookstoreCore
import BookstoreTesting
import ContractKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSONKit
import NIOCore
import PaymentsService
import Testing

let testSecret = "payments-test-secret-0123456789-abcdefghij"

/// Settings for a fast, deterministic service: no processing delay, every payment approved, no retry delays.
func testEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    [
        "JWT_SECRET": testSecret,
        "PORT": "0",
        "LOG_LEVEL": "error",
        "ACCESS_LOG": "false",
        "PAYMENT_PROCESSING_MS": "0",
        "PAYMENT_SUCCESS_RATE": "1",
        "PAYMENT_RETRY_BASE_MS": "0",
        "MAX_BODY_BYTES": "4096",
    ].merging(extra) { _, new in new }
}

/// Which API flavour a test drives.
enum Flavour: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case python
    case java

    var testDescription: String { self.rawValue }

    func build(_ extra: [String: String] = [:], bus: InProcessEventBus = InProcessEventBus()) async throws -> BuiltService {
        let settings = Settings(environment: testEnvironment(extra))
        switch self {
        case .python: return try await PaymentsPythonApp.build(settings: settings, bus: bus)
        case .java: return try await PaymentsJavaApp.build(settings: settings, bus: bus)
        }
    }

    /// The request body of a payment in this flavour's names.
    func paymentBody(
        orderID: String = "order-1",
        userID: String = "user-1",
        amount: JSON = .number("19.90"),
        currency: JSON? = nil,
        method: JSON? = nil,
        bookID: String? = nil,
        extra: JSONObject = [:]
    ) -> JSON {
        var object = JSONObject()
        object[self == .python ? "order_id" : "orderId"] = .string(orderID)
        object[self == .python ? "user_id" : "userId"] = .string(userID)
        object["amount"] = amount
        if let currency { object["currency"] = currency }
        if let method { object[self == .python ? "payment_method" : "paymentMethod"] = method }
        if let bookID { object[self == .python ? "book_id" : "bookId"] = .string(bookID) }
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    /// A member of a payment object in this flavour (`payment_id` / `paymentId`).
    func key(_ snake: String) -> String {
        guard self == .java else { return snake }
        let parts = snake.split(separator: "_")
        return parts.enumerated().map { index, part in index == 0 ? String(part) : part.capitalized }.joined()
    }

    /// The status code of a new completed payment.
    var createdStatus: HTTPResponse.Status { self == .python ? .ok : .created }

    /// A payment status as this flavour writes it.
    func status(_ status: String) -> String { self == .python ? status : status.uppercased() }

    var contract: OpenAPIDocument {
        get throws { try Contracts.document(self == .python ? "payments-python" : "payments-java") }
    }
}

/// The committed OpenAPI documents, loaded once.
enum Contracts {
    static func document(_ name: String) throws -> OpenAPIDocument {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try OpenAPIDocument(contentsOf: root.appendingPathComponent("Conformance/contracts/\(name).openapi.yaml").path)
    }
}

extension Reply {
    /// The envelope's `data`.
    var data: JSON? { self.json["data"] }

    /// The violations of this response against `document` for the request `method path`.
    func violations(_ document: OpenAPIDocument, _ method: HTTPRequest.Method, _ path: String) -> [ContractViolation] {
        document.validateResponse(
            method: method.rawValue,
            path: path,
            status: Int(self.status.code),
            contentType: self.headers[.contentType],
            body: self.bytes
        )
    }
}

/// Checks a reply against the flavour's contract and reports every violation.
func expectConforms(
    _ reply: Reply,
    _ flavour: Flavour,
    _ method: HTTPRequest.Method,
    _ path: String,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let document = try flavour.contract
    let violations = reply.violations(document, method, path)
    #expect(violations.isEmpty, "\(method) \(path) \(reply.status.code): \(violations.report)\n\(reply.text)", sourceLocation: sourceLocation)
    let disagreement = document.requestDisagreement(
        method: method.rawValue,
        target: path,
        body: reply.requestBody,
        headers: reply.requestHeaders,
        status: Int(reply.status.code)
    )
    #expect(disagreement == nil, "\(disagreement ?? "")\n\(reply.text)", sourceLocation: sourceLocation)
}

/// A valid Visa test number, and an expiry in the future.
let validCard = "4111 1111 1111 1111"

func futureExpiry(years: Int = 3) -> String {
    let parts = utcYearMonth(Date())
    return String(format: "%02d/%02d", parts.month, (parts.year + years) % 100)
}

func utcYearMonth(_ date: Date) -> (year: Int, month: Int) {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let components = calendar.dateComponents([.year, .month], from: date)
    return (components.year!, components.month!)
}

/// Waits until `queue` holds at least `count` messages (consumers run concurrently with the test).
func waitForMessages(_ bus: InProcessEventBus, in queue: String, count: Int, timeout: Duration = .seconds(5)) async throws -> [EventMessage] {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        let messages = bus.pendingMessages(in: queue)
        if messages.count >= count { return messages }
        try await Task.sleep(for: .milliseconds(5))
    }
    return bus.pendingMessages(in: queue)
}

/// The value of the sample `name{labels}` in a Prometheus text, if present.
func metricValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}
