import NIOCore
import Testing

@testable import LoadTestKit

@Suite struct TemplateTests {
    func render(_ text: String, sequence: Int = 7, variables: [String: String] = [:], seed: UInt64 = 1) throws -> String {
        var context = TemplateContext(random: FastRandom(seed: seed), sequence: sequence)
        return try Template(text).resolving(variables).render(context: &context)
    }

    @Test func literalAndSequence() throws {
        #expect(try render("/books/{{seq}}?x=1") == "/books/7?x=1")
        #expect(try render("{{ seq }}", sequence: 0) == "0")
        #expect(try render("no placeholders") == "no placeholders")
        #expect(try Template("plain").isConstant)
        #expect(try !Template("{{uuid}}").isConstant)
    }

    @Test func variables() throws {
        #expect(try render("Bearer {{token}}", variables: ["token": "abc.def"]) == "Bearer abc.def")
        #expect(try Template("{{a}}-{{b}}").variableNames == ["a", "b"])
        #expect(throws: TemplateError.undefinedVariable("token", template: "{{token}}")) {
            _ = try Template("{{token}}").resolving([:])
        }
    }

    @Test func uuidsAreVersion4AndDistinct() throws {
        var context = TemplateContext(random: FastRandom(seed: 99))
        let template = try Template("{{uuid}}")
        var seen = Set<String>()
        for _ in 0..<1000 {
            let value = template.render(context: &context)
            let parts = value.split(separator: "-")
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
            #expect(parts[2].first == "4")
            #expect("89ab".contains(parts[3].first!))
            #expect(value.allSatisfy { $0.isHexDigit || $0 == "-" })
            seen.insert(value)
        }
        #expect(seen.count == 1000)
    }

    @Test func randomIntegersStayInRangeAndCoverIt() throws {
        var context = TemplateContext(random: FastRandom(seed: 3))
        let template = try Template("{{randInt 1 5}}")
        var counts: [Int: Int] = [:]
        for _ in 0..<5000 { counts[Int(template.render(context: &context))!, default: 0] += 1 }
        #expect(Set(counts.keys) == Set(1...5))
        #expect(counts.values.allSatisfy { $0 > 800 })
        #expect(try render("{{randInt -3 -3}}") == "-3")
    }

    @Test func amountsHaveTwoDecimalsInRange() throws {
        var context = TemplateContext(random: FastRandom(seed: 5))
        let template = try Template("{{amount 1 500}}")
        for _ in 0..<2000 {
            let text = template.render(context: &context)
            let parts = text.split(separator: ".")
            #expect(parts.count == 2 && parts[1].count == 2)
            let value = try #require(Double(text))
            #expect(value >= 1 && value <= 500)
        }
    }

    @Test func randomStringsAndPicks() throws {
        let text = try render("{{randString 12}}")
        #expect(text.count == 12 && text.allSatisfy { $0.isLetter || $0.isNumber })
        let picked = try render("{{pick USD EUR GBP}}")
        #expect(["USD", "EUR", "GBP"].contains(picked))
    }

    @Test(arguments: ["{{uuid", "{{randInt 1}}", "{{randInt 5 1}}", "{{amount a b}}", "{{}}", "{{two words}}", "{{pick}}", "{{1abc}}", "{{seq 3}}"])
    func rejectsMalformedPlaceholders(text: String) {
        #expect(throws: TemplateError.self) { _ = try Template(text) }
    }

    @Test func compiledRequestIsPrebuiltWhenConstant() throws {
        let request = try CompiledRequest(
            RequestDefinition(
                name: "a",
                method: "post",
                path: .literal("/x"),
                headers: [HeaderField(name: "Authorization", value: try Template("Bearer {{token}}"))],
                body: .literal("{}")
            ),
            baseURL: try BaseURL("http://127.0.0.1:8080/prefix/"),
            defaultHeaders: [HeaderField(name: "Content-Type", value: .literal("application/json"))],
            variables: ["token": "t0k"]
        )
        let bytes = try #require(request.prebuilt)
        #expect(
            String(buffer: bytes)
                == "POST /prefix/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t0k\r\nContent-Type: application/json\r\n"
                + "Content-Length: 2\r\n\r\n{}"
        )
    }

    @Test func compiledRequestRendersDynamicBodiesWithTheirLength() throws {
        let request = try CompiledRequest(
            RequestDefinition(name: "a", method: "PUT", path: try Template("/r/{{seq}}"), body: try Template("{\"n\":{{seq}}}")),
            baseURL: try BaseURL("http://localhost"),
            defaultHeaders: [],
            variables: [:]
        )
        #expect(request.prebuilt == nil)
        var context = TemplateContext(random: FastRandom(seed: 1), sequence: 12345)
        var scratch = ByteBuffer()
        let bytes = request.encode(context: &context, allocator: ByteBufferAllocator(), scratch: &scratch)
        #expect(String(buffer: bytes) == "PUT /r/12345 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n{\"n\":12345}")
    }

    @Test func headerInjectionIsRejected() {
        #expect(throws: ScenarioError.self) {
            _ = try CompiledRequest(
                RequestDefinition(name: "a", path: .literal("/"), headers: [HeaderField(name: "X", value: try Template("{{v}}"))]),
                baseURL: try BaseURL("http://localhost"),
                defaultHeaders: [],
                variables: ["v": "1\r\nEvil: yes"]
            )
        }
        #expect(throws: ScenarioError.self) {
            _ = try CompiledRequest(
                RequestDefinition(name: "a", path: .literal("/"), headers: [HeaderField(name: "Content-Length", value: .literal("5"))]),
                baseURL: try BaseURL("http://localhost"),
                defaultHeaders: [],
                variables: [:]
            )
        }
    }

    @Test func baseURLs() throws {
        let url = try BaseURL("http://127.0.0.1:8080/api/")
        #expect(url.host == "127.0.0.1" && url.port == 8080 && url.pathPrefix == "/api")
        #expect(try BaseURL("http://example.test").port == 80)
        #expect(try BaseURL("http://[::1]:9000").hostHeader == "[::1]:9000")
        #expect(throws: ScenarioError.self) { _ = try BaseURL("https://127.0.0.1") }
        #expect(throws: ScenarioError.self) { _ = try BaseURL("127.0.0.1:8080") }
        #expect(throws: ScenarioError.self) { _ = try BaseURL("http://127.0.0.1:99999") }
    }

    @Test func durations() throws {
        #expect(try DurationText.parse("30s") == .seconds(30))
        #expect(try DurationText.parse("500ms") == .milliseconds(500))
        #expect(try DurationText.parse("1m30s") == .seconds(90))
        #expect(try DurationText.parse("1.5s") == .milliseconds(1500))
        #expect(try DurationText.parse("20") == .seconds(20))
        #expect(try DurationText.parse("250us") == .microseconds(250))
        #expect(throws: DurationText.ParseError.self) { _ = try DurationText.parse("10 parsecs") }
        #expect(throws: DurationText.ParseError.self) { _ = try DurationText.parse("") }
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.milliseconds(12)) == "12ms")
    }
}
