import Foundation
import JSONKit

/// The malformed-input corpus of the security suite: for every operation that takes a JSON body, wrong types in
/// each field, huge strings, injection strings, invalid UTF-8, deep nesting, empty and NUL bodies, non-JSON bodies
/// and wrong content types; plus odd path parameters and queries. None may yield a 5xx, a dropped connection or an
/// error body that leaks internals (HTML, stack traces).
enum MalformedInput {
    /// One request of the corpus.
    struct Probe {
        var label: String
        var contentType: String?
        var body: [UInt8]
        /// Whether the body is not a JSON object at all (broken syntax, another type, another format, over the size
        /// limit), so the only right answer is a 4xx in the service's JSON envelope; other probes may also be accepted.
        var mustReject = false
    }

    /// An operation that takes a JSON body, as the corpus attacks it.
    struct Target: Sendable {
        var id: String
        var method: String
        var service: String
        var servicePath: String
        /// Gateway path and a valid body, prepared with the fixtures.
        var prepare: @Sendable (CheckContext) async throws -> (path: String, valid: JSONObject, token: String?)
    }

    static let injections: [String] = [
        "' OR '1'='1", "\"; DROP TABLE users; --", "{\"$gt\": \"\"}", "<script>alert(1)</script>", "../../../../etc/passwd",
        "${jndi:ldap://127.0.0.1:1/a}", "{{7*7}}", "\u{0000}", "%00%0d%0a", "\u{202E}gnp.exe", "😀👍🏽", "\\u0000\\ud800",
    ]

    static var targets: [Target] {
        [
            Target(id: "USERS-REGISTER", method: "POST", service: "users", servicePath: "/api/auth/register") { context in
                let name = await context.uniqueName("fuzz")
                return ("/api/auth/register", context.registrationBody(name, password: "secret-123").objectValue ?? [:], nil)
            },
            Target(id: "USERS-LOGIN", method: "POST", service: "users", servicePath: "/api/auth/login") { context in
                let alice = try await context.user("alice")
                return ("/api/auth/login", ["usernameOrEmail": .string(alice.username), "password": "not-the-password"], nil)
            },
            Target(id: "USERS-UPDATE", method: "PUT", service: "users", servicePath: "/api/users/{id}") { context in
                let user = try await context.user("fuzzer")
                return ("/api/users/\(user.id)", ["firstName": "Fuzz", "lastName": "Er", "phone": "1", "address": "x"], user.token)
            },
            Target(id: "PAYPY-CREATE", method: "POST", service: "payments-python", servicePath: "/api/payments") { context in
                let user = try await context.user("fuzzer")
                let body = context.paymentBody(.python, orderID: await context.uniqueName("order"), userID: user.id, bookID: "fuzz-book")
                return ("/api/payments-python", body.objectValue ?? [:], user.token)
            },
            Target(id: "PAYPY-VALIDATE", method: "POST", service: "payments-python", servicePath: "/api/payments/validate") { context in
                let user = try await context.user("fuzzer")
                return ("/api/payments-python/validate", ["card_number": "4111111111111111", "cvv": "123", "expiry_date": "12/99"], user.token)
            },
            Target(id: "PAYJAVA-CREATE", method: "POST", service: "payments-java", servicePath: "/api/payments") { context in
                let user = try await context.user("fuzzer")
                let body = context.paymentBody(.java, orderID: await context.uniqueName("order"), userID: user.id, bookID: "fuzz-book")
                return ("/api/payments-java", body.objectValue ?? [:], user.token)
            },
            Target(id: "PAYJAVA-VALIDATE", method: "POST", service: "payments-java", servicePath: "/api/payments/validate") { context in
                let user = try await context.user("fuzzer")
                return ("/api/payments-java/validate", ["cardNumber": "4111111111111111", "cvv": "123", "expiryDate": "12/99"], user.token)
            },
            Target(id: "REVIEWS-CREATE", method: "POST", service: "reviews", servicePath: "/api/reviews") { context in
                let user = try await context.user("fuzzer")
                return ("/api/reviews", context.reviewBody(bookID: await context.uniqueName("book"), userID: user.id).objectValue ?? [:], user.token)
            },
            Target(id: "REVIEWS-UPDATE", method: "PUT", service: "reviews", servicePath: "/api/reviews/{review_id}") { context in
                let user = try await context.user("fuzzer")
                let (_, review) = try await context.createReview(by: user, bookID: await context.uniqueName("book"))
                let id = review["review_id"]?.stringValue ?? ""
                return ("/api/reviews/\(id)", ["rating": 3, "title": "t", "comment": "c"], user.token)
            },
        ]
    }

    static var checks: [Check] {
        self.targets.map { target in
            SecuritySuite.check(
                "SEC-MALFORMED-\(target.id)",
                "Malformed bodies to \(target.method) \(target.servicePath) (\(target.service)) never yield a 5xx or leak internals",
                timeLimit: .seconds(180)
            ) { context in
                let (path, valid, token) = try await target.prepare(context)
                let properties =
                    context.endpoints.contracts?.requestProperties(service: target.service, method: target.method, path: target.servicePath) ?? []
                let probes = self.probes(valid: valid, properties: properties.isEmpty ? valid.map { ($0.key, $0.value.typeName) } : properties)
                try await self.send(probes, method: target.method, path: path, token: token, context: context)
            }
        } + [self.pathCheck]
    }

    /// The corpus for one operation.
    static func probes(valid: JSONObject, properties: [(name: String, type: String)]) -> [Probe] {
        func json(_ object: JSONObject) -> [UInt8] { JSON.object(object).bytes }
        var probes: [Probe] = []
        for (name, type) in properties {
            let wrong: [JSON] =
                switch type {
                case "string": [12_345, .number("-1e309"), true, .null, [], ["$gt": ""]]
                case "integer", "number": ["12", .number("1e400"), .number("-0"), true, .null, [1], [:], .number("99999999999999999999999")]
                case "boolean": ["true", 1, .null]
                case "array": ["x", 1, [:]]
                case "object": ["x", 1, []]
                default: [.null, [[[[]]]]]
                }
            for value in wrong {
                var body = valid
                body[name] = value
                probes.append(Probe(label: "\(name) = \(value.text.prefix(30))", contentType: "application/json", body: json(body)))
            }
            if type == "string" || type == "any" {
                var huge = valid
                huge[name] = .string(String(repeating: "A", count: 100_000))
                probes.append(Probe(label: "\(name) = 100 000 characters", contentType: "application/json", body: json(huge)))
                for injection in self.injections {
                    var body = valid
                    body[name] = .string(injection)
                    probes.append(Probe(label: "\(name) = \(injection.debugDescription)", contentType: "application/json", body: json(body)))
                }
                var invalidUTF8 = Array("{\"\(name)\": \"".utf8) + [0xC3, 0x28, 0xFF, 0xFE, 0xED, 0xA0, 0x80] + Array("\"}".utf8)
                probes.append(Probe(label: "\(name) with invalid UTF-8 bytes", contentType: "application/json", body: invalidUTF8))
                invalidUTF8 = json(valid)
                invalidUTF8.insert(contentsOf: [0xC0, 0xAF], at: max(invalidUTF8.count - 2, 0))
                probes.append(Probe(label: "overlong UTF-8 before the closing brace", contentType: "application/json", body: invalidUTF8))
            }
            var missing = valid
            missing[name] = nil
            probes.append(Probe(label: "\(name) missing", contentType: "application/json", body: json(missing)))
        }
        let deepArray = Array(repeating: UInt8(ascii: "["), count: 20_000) + Array(repeating: UInt8(ascii: "]"), count: 20_000)
        let deepObject = Array(String(repeating: "{\"a\":", count: 5_000).utf8) + Array("1".utf8) + Array(repeating: UInt8(ascii: "}"), count: 5_000)
        var duplicate = Array(JSON.object(valid).text.dropLast().utf8)
        duplicate += Array(", \"\(properties.first?.name ?? "x")\": 1}".utf8)
        let whole: [Probe] = [
            Probe(label: "empty body", contentType: "application/json", body: [], mustReject: true),
            Probe(label: "NUL bytes", contentType: "application/json", body: [0, 0, 0, 0], mustReject: true),
            Probe(label: "null", contentType: "application/json", body: Array("null".utf8), mustReject: true),
            Probe(label: "an array", contentType: "application/json", body: Array("[]".utf8), mustReject: true),
            Probe(label: "a string", contentType: "application/json", body: Array("\"text\"".utf8), mustReject: true),
            Probe(label: "a number", contentType: "application/json", body: Array("123".utf8), mustReject: true),
            Probe(label: "truncated JSON", contentType: "application/json", body: Array(JSON.object(valid).bytes.dropLast(3)), mustReject: true),
            Probe(label: "unterminated string", contentType: "application/json", body: Array("{\"a\": \"abc".utf8), mustReject: true),
            Probe(label: "trailing garbage", contentType: "application/json", body: JSON.object(valid).bytes + Array(" }{".utf8), mustReject: true),
            Probe(label: "20 000 nested arrays", contentType: "application/json", body: deepArray, mustReject: true),
            Probe(label: "5 000 nested objects", contentType: "application/json", body: deepObject, mustReject: true),
            Probe(label: "a duplicated key", contentType: "application/json", body: duplicate),
            Probe(label: "a UTF-8 byte order mark", contentType: "application/json", body: [0xEF, 0xBB, 0xBF] + JSON.object(valid).bytes),
            Probe(
                label: "UTF-16 body",
                contentType: "application/json; charset=utf-16",
                body: Array(JSON.object(valid).text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
            ),
            Probe(label: "raw invalid UTF-8", contentType: "application/json", body: [0xFF, 0xFE, 0xFD, 0x80, 0x81], mustReject: true),
            Probe(label: "JSON as text/plain", contentType: "text/plain", body: JSON.object(valid).bytes),
            Probe(
                label: "XML",
                contentType: "application/xml",
                body: Array("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>".utf8),
                mustReject: true
            ),
            Probe(label: "form data", contentType: "application/x-www-form-urlencoded", body: Array("a=1&b=%ZZ".utf8), mustReject: true),
            Probe(
                label: "multipart garbage",
                contentType: "multipart/form-data; boundary=zzz",
                body: Array("--zzz\r\ngarbage\r\n--zz".utf8),
                mustReject: true
            ),
            Probe(label: "no content type", contentType: nil, body: JSON.object(valid).bytes),
            Probe(
                label: "a 2 MiB JSON string (over the 1 MiB limit)",
                contentType: "application/json",
                body: JSON.string(String(repeating: "B", count: 2 << 20)).bytes,
                mustReject: true
            ),
        ]
        return probes + whole
    }

    /// Sends every probe; fails listing those answered 5xx, with a dropped connection, or with a leaking error body.
    static func send(_ probes: [Probe], method: String, path: String, token: String?, context: CheckContext) async throws {
        var problems: [String] = []
        var statuses: [Int: Int] = [:]
        var consecutiveFailures = 0
        for probe in probes {
            if consecutiveFailures >= 3 {
                problems.append("the server stopped answering; the remaining probes were not sent")
                break
            }
            var headers: [(String, String)] = probe.contentType.map { [("Content-Type", $0)] } ?? []
            if let token { headers.append(("Authorization", "Bearer " + token)) }
            do {
                let response = try await context.http.send(method, path, headers: headers, body: probe.body, record: false)
                statuses[response.status, default: 0] += 1
                consecutiveFailures = 0
                if let problem = self.problem(with: response, mustReject: probe.mustReject) {
                    problems.append("\(probe.label): \(problem)")
                    context.evidence.add(.note("probe: \(probe.label)"))
                    context.evidence.add(.exchange(HTTPExchange(response)))
                }
            } catch let error as HTTPTransportError {
                consecutiveFailures += 1
                problems.append("\(probe.label): no response (\(error.message.prefix(80)))")
                context.note(
                    "probe '\(probe.label)' (\(probe.body.count) bytes, \(probe.contentType ?? "no content type")) got no response: \(error.message)"
                )
            }
        }
        context.measure("requests", String(probes.count))
        context.measure("statuses", statuses.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", "))
        try context.require(
            problems.isEmpty,
            expected: "a 2xx/4xx JSON answer without internals to each of \(probes.count) malformed requests to \(method) \(path)",
            seen: "\(problems.count) bad answers: " + problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; …" : "")
        )
    }

    /// Why an answer to a malformed request is unacceptable, or nil: a 5xx, a redirect, a 2xx to a body that is
    /// not a JSON object at all (`mustReject`), an error body that is not JSON, or any non-2xx body that leaks
    /// internals (``LeakMarkers``).
    static func problem(with response: HTTPResponse, mustReject: Bool = false) -> String? {
        if response.status >= 500 { return "\(response.status) \(response.excerpt.prefix(120))" }
        if (300..<400).contains(response.status) {
            return "\(response.status) redirect (to \(response.header("Location") ?? "nowhere")) instead of a 4xx"
        }
        if mustReject, response.status < 400 { return "\(response.status) accepted it: expected a 4xx in the service's JSON envelope" }
        guard response.status >= 400 else { return nil }
        if let marker = LeakMarkers.find(in: response.body) {
            return "\(response.status) body leaks \(marker): \(response.excerpt.prefix(120))"
        }
        if response.json == nil { return "\(response.status) with a non-JSON error body: \(response.excerpt.prefix(80))" }
        return nil
    }

    /// Odd path parameters and query strings on the read operations.
    static var pathCheck: Check {
        SecuritySuite.check(
            "SEC-MALFORMED-PATHS",
            "Odd path parameters and queries (injection, encoded NUL, traversal, 8 KB ids, huge numbers) never yield a 5xx"
        ) {
            context in
            let alice = try await context.user("alice")
            let odd = [
                "%27%20OR%20%271%27%3D%271", "%00", "..%2F..%2Fetc%2Fpasswd", "%7B%22%24gt%22%3A%22%22%7D", String(repeating: "a", count: 8_000),
                "%F0%9F%98%80", "%C3%28", "-1", "0", "99999999999999999999999999",
            ]
            let templates = [
                "/api/users/{}", "/api/payments-python/{}", "/api/payments-java/{}", "/api/payments-python/user/{}", "/api/payments-java/user/{}",
                "/api/reviews/{}", "/api/reviews/book/{}", "/api/reviews/book/{}/stats", "/api/reviews/user/{}",
            ]
            let queries = [
                "/api/reviews/book/b?page=-1&limit=-1", "/api/reviews/book/b?page=99999999999999999999&limit=1", "/api/reviews/book/b?page=1e3",
                "/api/reviews/book/b?limit=%00", "/api/users?page=-5&size=99999999999", "/api/payments-python/user/\(alice.id)?page=&limit=",
                "/api/payments-java/user/\(alice.id)?page=1&page=2", "/api/reviews/user/x?page=%27",
            ]
            var problems: [String] = []
            var count = 0
            var consecutiveFailures = 0
            for path in templates.flatMap({ template in odd.map { template.replacingOccurrences(of: "{}", with: $0) } }) + queries {
                count += 1
                if consecutiveFailures >= 3 {
                    problems.append("the server stopped answering; the remaining paths were not tried")
                    break
                }
                do {
                    let response = try await context.http.get(path, token: alice.token, record: false)
                    consecutiveFailures = 0
                    if let problem = self.problem(with: response) {
                        problems.append("GET \(path.prefix(80)): \(problem)")
                        context.evidence.add(.exchange(HTTPExchange(response)))
                    }
                } catch let error as HTTPTransportError {
                    consecutiveFailures += 1
                    problems.append("GET \(path.prefix(80)): no response (\(error.message.prefix(80)))")
                }
            }
            context.measure("requests", String(count))
            try context.require(
                problems.isEmpty,
                expected: "a 2xx/4xx JSON answer to each of \(count) odd paths",
                seen: "\(problems.count) bad answers: " + problems.prefix(5).joined(separator: "; ")
            )
        }
    }
}
