import Foundation
import NIOCore
import Testing

@testable import LoadTestKit

@Suite struct ScenarioLoaderTests {
    static let scenarioDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scenarios")

    @Test(arguments: ["browse-reviews", "create-review", "pay", "mixed"])
    func shippedScenariosLoadAndValidate(name: String) throws {
        let scenario = try ScenarioLoader.load(contentsOf: Self.scenarioDirectory.appendingPathComponent("\(name).yaml").path)
        #expect(scenario.name == name)
        #expect(!scenario.requests.isEmpty)
        #expect(!scenario.thresholds.isEmpty)
        let configuration = try ScenarioRunner.configuration(
            for: scenario,
            variables: ["token": "t", "userId": "u", "username": "n", "password": "p"]
        )
        if case .open = configuration.model {} else { Issue.record("\(name) should use the open model") }
        // Every request compiles with the values setup would capture.
        _ = try CompiledPlan(configuration, address: try .init(ipAddress: "127.0.0.1", port: 8080))
    }

    @Test func bookstoreScenariosDeclareTheirExpectedStatuses() throws {
        let pay = try ScenarioLoader.load(contentsOf: Self.scenarioDirectory.appendingPathComponent("pay.yaml").path)
        let request = try #require(pay.requests.first)
        #expect(request.expectedStatuses.contains(200) && request.expectedStatuses.contains(402))
        #expect(!request.expectedStatuses.contains(500))
        #expect(pay.setup.last?.captures.map(\.name) == ["token", "userId"])
    }

    @Test func fullScenario() throws {
        let yaml = """
            name: demo
            baseURL: http://127.0.0.1:9999
            variables:
              user: "u{{randInt 1 9}}"
            headers: { Accept: application/json }
            load:
              stages:
                - { rate: 5, duration: 2s }
                - { rate: 10, duration: 1s }
              maxRequests: 100
              timeout: 2s
            requests:
              - name: get
                path: /items/{{user}}
                weight: 2
                expect: ["2xx", 404]
              - name: post
                method: post
                path: /items
                json: { name: "{{user}}", count: 3, active: true, tags: [a, b] }
                expect: 201
            thresholds: [p95<300ms, "error_rate < 1%"]
            """
        let scenario = try ScenarioLoader.parse(yaml)
        #expect(scenario.baseURL == "http://127.0.0.1:9999")
        #expect(scenario.requests.map(\.weight) == [2, 1])
        #expect(scenario.requests[1].method == "POST")
        #expect(scenario.requests[1].body?.source == "{\"name\":\"{{user}}\",\"count\":3,\"active\":true,\"tags\":[\"a\",\"b\"]}")
        #expect(scenario.requests[0].expectedStatuses.contains(204) && scenario.requests[0].expectedStatuses.contains(404))
        #expect(scenario.thresholds.count == 2)
        let configuration = try ScenarioRunner.configuration(for: scenario)
        #expect(configuration.duration == .seconds(3))
        #expect(configuration.maxRequests == 100)
        #expect(configuration.model == .open(.stepped([.init(rate: 5, duration: .seconds(2)), .init(rate: 10, duration: .seconds(1))])))
        let overridden = try ScenarioRunner.configuration(for: scenario, overrides: ScenarioOverrides(connections: 8, duration: .seconds(1)))
        #expect(overridden.model == .closed(connections: 8))
        #expect(overridden.duration == .seconds(1))
    }

    @Test func jsonScenarios() throws {
        let json = """
            {"name": "j", "load": {"connections": 2, "duration": "1s"}, "requests": [{"path": "/x"}]}
            """
        let scenario = try ScenarioLoader.parse(json)
        #expect(try ScenarioRunner.configuration(for: scenario).model == .closed(connections: 2))
        #expect(scenario.requests[0].name == "request1")
    }

    @Test(arguments: [
        ("requests: [{path: /x}]\nunknown: 1", "unknown key 'unknown'"),
        ("requests: [{path: /x, wieght: 2}]", "unknown key 'wieght'"),
        ("requests: []", "no requests"),
        ("name: x", "no 'requests'"),
        ("requests: [{name: a}]", "has no 'path'"),
        ("requests: [{path: '/x/{{nope}}'}]", "variable 'nope'"),
        ("requests: [{path: '/x/{{randInt 1}}'}]", "cannot read placeholder"),
        ("requests: [{path: /x, expect: [700]}]", "invalid expected status"),
        ("requests: [{path: /x}]\nthresholds: [p95<300]", "needs a unit"),
        ("requests: [{path: /x}]\nthresholds: ['latency<3s']", "unknown metric"),
        ("requests: [{path: /x}]\nthresholds: ['p95[other]<3s']", "names request 'other'"),
        ("requests: [{path: /x}]\nload: {rate: -1}", "positive number"),
        ("requests: [{path: /x}]\nload: {duration: soon}", "invalid duration"),
        ("requests: [{name: a, path: /x}, {name: a, path: /y}]", "used twice"),
        ("setup: [{path: /login, capture: {token: 'token'}}]\nrequests: [{path: /x}]", "must start with '$'"),
        ("requests: {path: /x}", "must be a list"),
        ("requests: [{path: /x}\n", "not valid YAML"),
    ])
    func reportsProblemsClearly(yaml: String, message: String) {
        #expect {
            _ = try ScenarioLoader.parse(yaml)
        } throws: { error in
            (error as? ScenarioError)?.message.contains(message) == true
        }
    }

    @Test func errorsCarryLineNumbers() {
        let yaml = "name: x\nrequests:\n  - path: /a\n    bogus: 1\n"
        #expect {
            _ = try ScenarioLoader.parse(yaml)
        } throws: { error in
            (error as? ScenarioError)?.message.hasPrefix("line 4:") == true
        }
    }

    @Test func missingLoadModelIsAnError() throws {
        let scenario = try ScenarioLoader.parse("requests: [{path: /x}]")
        #expect(throws: ScenarioError.self) {
            _ = try ScenarioRunner.configuration(for: scenario, overrides: ScenarioOverrides(duration: .seconds(1)))
        }
        #expect(throws: ScenarioError.self) { _ = try ScenarioRunner.configuration(for: scenario, overrides: ScenarioOverrides(rate: 5)) }
        #expect(throws: ScenarioError.self) {
            _ = try ScenarioRunner.configuration(for: scenario, overrides: ScenarioOverrides(rate: 5, connections: 2, duration: .seconds(1)))
        }
        #expect(
            try ScenarioRunner.configuration(for: scenario, overrides: ScenarioOverrides(rate: 5, duration: .seconds(1))).model == .open(.constant(5))
        )
    }

    @Test func jsonPaths() throws {
        let body = Array(#"{"token":"abc","userId":42,"user":{"roles":["ROLE_USER"],"ok":true,"none":null},"items":[{"id":"i0"},{"id":"i1"}]}"#.utf8)
        #expect(try JSONPath("$.token").extract(from: body) == "abc")
        #expect(try JSONPath("$.userId").extract(from: body) == "42")
        #expect(try JSONPath("$.user.roles[0]").extract(from: body) == "ROLE_USER")
        #expect(try JSONPath("$.user.ok").extract(from: body) == "true")
        #expect(try JSONPath("$.items[1].id").extract(from: body) == "i1")
        #expect(try JSONPath("$['token']").extract(from: body) == "abc")
        #expect(try JSONPath("$.user.roles").extract(from: body) == #"["ROLE_USER"]"#)
        #expect(try JSONPath("$.user.none").extract(from: body) == nil)
        #expect(try JSONPath("$.missing").extract(from: body) == nil)
        #expect(try JSONPath("$.items[5]").extract(from: body) == nil)
        #expect(try JSONPath("$.token").extract(from: Array("not json".utf8)) == nil)
        #expect(throws: ScenarioError.self) { _ = try JSONPath("token") }
        #expect(throws: ScenarioError.self) { _ = try JSONPath("$.items[x]") }
        #expect(throws: ScenarioError.self) { _ = try JSONPath("$..a") }
    }
}
