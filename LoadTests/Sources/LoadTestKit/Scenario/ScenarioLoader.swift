import Foundation
import Yams

/// Reads scenarios from YAML or JSON (JSON is YAML too).
///
/// ```yaml
/// name: browse
/// baseURL: http://127.0.0.1:8080
/// variables: { username: "lt_{{randString 10}}" }
/// headers: { Accept: application/json }
/// setup:
///   - name: login
///     method: POST
///     path: /api/auth/login
///     headers: { Content-Type: application/json }
///     body: '{"usernameOrEmail":"{{username}}","password":"secret"}'
///     expect: [200]
///     capture: { token: $.token, userId: $.userId }
/// load: { model: open, rate: 50, duration: 30s, maxRequests: 10000, timeout: 5s }
/// requests:
///   - name: reviews
///     weight: 3
///     path: /api/reviews/book/book-{{randInt 1 20}}?page=1&limit=20
///     headers: { Authorization: "Bearer {{token}}" }
///     expect: [200]
/// thresholds: [p95<300ms, error_rate<1%]
/// ```
public enum ScenarioLoader {
    /// Loads a scenario file.
    ///
    /// - Parameter path: A `.yaml`, `.yml` or `.json` file.
    /// - Throws: ``ScenarioError`` naming the file, and the line where possible.
    public static func load(contentsOf path: String) throws(ScenarioError) -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ScenarioError("\(path): cannot read the file (\(error.localizedDescription))")
        }
        let fallbackName = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        do {
            return try parse(text, defaultName: fallbackName)
        } catch {
            throw ScenarioError("\(path): \(error.message)")
        }
    }

    /// Parses scenario text.
    ///
    /// - Parameters:
    ///   - text: YAML or JSON.
    ///   - defaultName: The name when the text has none.
    /// - Throws: ``ScenarioError``.
    public static func parse(_ text: String, defaultName: String = "scenario") throws(ScenarioError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ScenarioError("the scenario is empty") }
            root = node
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw ScenarioError("not valid YAML/JSON: \(error)")
        }
        let scenario = try Reader(root: root).scenario(defaultName: defaultName)
        try scenario.validate()
        return scenario
    }
}

/// Walks the YAML node tree, with line numbers in errors.
private struct Reader {
    let root: Node

    func scenario(defaultName: String) throws(ScenarioError) -> Scenario {
        let map = try mapping(root, "the scenario")
        try allow(
            map,
            ["name", "description", "baseURL", "base_url", "baseUrl", "variables", "vars", "headers", "setup", "load", "requests", "thresholds"],
            "the scenario"
        )
        var scenario = Scenario(name: try string(map["name"], "name") ?? defaultName, requests: [])
        scenario.baseURL = try string(map["baseURL"] ?? map["base_url"] ?? map["baseUrl"], "baseURL")
        if let node = map["variables"] ?? map["vars"] {
            for (key, value) in try pairs(node, "variables") {
                guard Template.isIdentifier(key) else { throw error(node, "variable name '\(key)' is not an identifier") }
                scenario.variables.append(ScenarioVariable(name: key, value: try template(value, "variable '\(key)'")))
            }
        }
        if let node = map["headers"] { scenario.defaultHeaders = try headers(node, "headers") }
        if let node = map["setup"] {
            for (index, item) in try sequence(node, "setup").enumerated() {
                scenario.setup.append(try setupStep(item, index: index))
            }
        }
        guard let requestsNode = map["requests"] else { throw ScenarioError("the scenario has no 'requests'") }
        for (index, item) in try sequence(requestsNode, "requests").enumerated() {
            scenario.requests.append(try request(item, context: "requests[\(index)]", defaultName: "request\(index + 1)", allowsCapture: false).0)
        }
        if let node = map["load"] { scenario.load = try load(node) }
        if let node = map["thresholds"] {
            for item in try sequence(node, "thresholds") {
                guard let text = item.scalar?.string else { throw error(item, "a threshold must be text like 'p95<300ms'") }
                do {
                    scenario.thresholds.append(try Threshold.parse(text))
                } catch {
                    throw self.error(item, error.description)
                }
            }
        }
        return scenario
    }

    private func setupStep(_ node: Node, index: Int) throws(ScenarioError) -> SetupStep {
        let (definition, captures) = try request(node, context: "setup[\(index)]", defaultName: "setup\(index + 1)", allowsCapture: true)
        return SetupStep(request: definition, captures: captures)
    }

    private func request(
        _ node: Node,
        context: String,
        defaultName: String,
        allowsCapture: Bool
    ) throws(ScenarioError) -> (RequestDefinition, [Capture]) {
        let map = try mapping(node, context)
        var keys = ["name", "method", "path", "url", "headers", "body", "json", "weight", "expect", "expected"]
        if allowsCapture { keys.append("capture") }
        try allow(map, keys, context)
        let name = try string(map["name"], "\(context).name") ?? defaultName
        let label = "request '\(name)'"
        guard let pathNode = map["path"] ?? map["url"] else { throw error(node, "\(label) has no 'path'") }
        var definition = RequestDefinition(name: name, path: try template(pathNode, "\(label) path"))
        if let method = try string(map["method"], "\(label) method") { definition.method = method.uppercased() }
        if let node = map["headers"] { definition.headers = try headers(node, "\(label) headers") }
        if let bodyNode = map["body"] ?? map["json"] {
            if let text = bodyNode.scalar?.string {
                definition.body = try template(text, at: bodyNode, "\(label) body")
            } else {
                definition.body = try template(json(bodyNode), at: bodyNode, "\(label) body")
            }
        }
        if let weightNode = map["weight"] {
            guard let weight = weightNode.int, weight >= 0 else { throw error(weightNode, "\(label): weight must be a whole number ≥ 0") }
            definition.weight = weight
        }
        if let expectNode = map["expect"] ?? map["expected"] {
            let items: [String]
            if let sequence = expectNode.sequence {
                items = sequence.map { $0.scalar?.string ?? "" }
            } else {
                items = [expectNode.scalar?.string ?? ""]
            }
            do {
                definition.expectedStatuses = try ExpectedStatuses(parsing: items)
            } catch {
                throw self.error(expectNode, "\(label): \(error.message)")
            }
        }
        var captures: [Capture] = []
        if let captureNode = map["capture"] {
            for (key, value) in try pairs(captureNode, "\(label) capture") {
                guard Template.isIdentifier(key) else { throw error(captureNode, "capture name '\(key)' is not an identifier") }
                guard let text = value.scalar?.string else { throw error(value, "capture '\(key)' must be a JSON path like $.token") }
                if text.lowercased().hasPrefix("header:") {
                    let header = text.dropFirst("header:".count).trimmingCharacters(in: .whitespaces)
                    guard !header.isEmpty else { throw error(value, "capture '\(key)': empty header name") }
                    captures.append(Capture(name: key, source: .header(header.lowercased())))
                } else {
                    do {
                        captures.append(Capture(name: key, source: .jsonPath(try JSONPath(text))))
                    } catch {
                        throw self.error(value, error.message)
                    }
                }
            }
        }
        return (definition, captures)
    }

    private func load(_ node: Node) throws(ScenarioError) -> LoadSettings {
        let map = try mapping(node, "load")
        try allow(
            map,
            [
                "model", "rate", "stages", "connections", "maxConnections", "max_connections", "duration", "maxRequests", "max_requests", "timeout",
                "connectTimeout", "connect_timeout",
            ],
            "load"
        )
        var settings = LoadSettings()
        settings.model = try string(map["model"], "load.model")
        if let rateNode = map["rate"] {
            guard let rate = rateNode.float, rate > 0 else { throw error(rateNode, "load.rate must be a positive number") }
            settings.rate = rate
        }
        if let stagesNode = map["stages"] {
            var stages: [ArrivalRate.Stage] = []
            for item in try sequence(stagesNode, "load.stages") {
                let stage = try mapping(item, "a stage")
                try allow(stage, ["rate", "duration"], "a stage")
                guard let rateNode = stage["rate"], let rate = rateNode.float, rate >= 0 else { throw error(item, "a stage needs 'rate' (≥ 0)") }
                guard let durationNode = stage["duration"] else { throw error(item, "a stage needs 'duration'") }
                stages.append(ArrivalRate.Stage(rate: rate, duration: try duration(durationNode, "stage duration")))
            }
            settings.stages = stages
        }
        settings.connections = try positiveInt(map["connections"], "load.connections")
        settings.maxConnections = try positiveInt(map["maxConnections"] ?? map["max_connections"], "load.maxConnections")
        settings.maxRequests = try positiveInt(map["maxRequests"] ?? map["max_requests"], "load.maxRequests")
        if let node = map["duration"] { settings.duration = try duration(node, "load.duration") }
        if let node = map["timeout"] { settings.timeout = try duration(node, "load.timeout") }
        if let node = map["connectTimeout"] ?? map["connect_timeout"] { settings.connectTimeout = try duration(node, "load.connectTimeout") }
        return settings
    }

    // MARK: Helpers

    private func error(_ node: Node?, _ message: String) -> ScenarioError {
        if let mark = node?.mark { return ScenarioError("line \(mark.line): \(message)") }
        return ScenarioError(message)
    }

    private func mapping(_ node: Node, _ context: String) throws(ScenarioError) -> Node.Mapping {
        guard let map = node.mapping else { throw error(node, "\(context) must be a mapping (key: value)") }
        return map
    }

    private func sequence(_ node: Node, _ context: String) throws(ScenarioError) -> [Node] {
        guard let items = node.sequence else { throw error(node, "\(context) must be a list") }
        return Array(items)
    }

    private func pairs(_ node: Node, _ context: String) throws(ScenarioError) -> [(String, Node)] {
        let map = try mapping(node, context)
        var result: [(String, Node)] = []
        for (key, value) in map {
            guard let name = key.scalar?.string else { throw error(key, "\(context): keys must be text") }
            result.append((name, value))
        }
        return result
    }

    private func allow(_ map: Node.Mapping, _ keys: [String], _ context: String) throws(ScenarioError) {
        for key in map.keys {
            guard let name = key.scalar?.string else { throw error(key, "\(context): keys must be text") }
            guard keys.contains(name) else {
                throw error(key, "\(context): unknown key '\(name)' (known: \(keys.joined(separator: ", ")))")
            }
        }
    }

    private func string(_ node: Node?, _ context: String) throws(ScenarioError) -> String? {
        guard let node else { return nil }
        guard let text = node.scalar?.string else { throw error(node, "\(context) must be text") }
        return text
    }

    private func positiveInt(_ node: Node?, _ context: String) throws(ScenarioError) -> Int? {
        guard let node else { return nil }
        guard let value = node.int, value >= 1 else { throw error(node, "\(context) must be a whole number ≥ 1") }
        return value
    }

    private func duration(_ node: Node, _ context: String) throws(ScenarioError) -> Duration {
        guard let text = node.scalar?.string else { throw error(node, "\(context) must be a duration like 30s") }
        do {
            return try DurationText.parse(text)
        } catch {
            throw self.error(node, "\(context): \(error.description)")
        }
    }

    private func template(_ node: Node, _ context: String) throws(ScenarioError) -> Template {
        guard let text = node.scalar?.string else { throw error(node, "\(context) must be text") }
        return try template(text, at: node, context)
    }

    private func template(_ text: String, at node: Node, _ context: String) throws(ScenarioError) -> Template {
        do {
            return try Template(text)
        } catch {
            throw self.error(node, "\(context): \(error.description)")
        }
    }

    private func headers(_ node: Node, _ context: String) throws(ScenarioError) -> [HeaderField] {
        var fields: [HeaderField] = []
        for (name, value) in try pairs(node, context) {
            fields.append(HeaderField(name: name, value: try template(value, "\(context) '\(name)'")))
        }
        return fields
    }

    /// Serialises a YAML mapping or list body as JSON text (scalars keep their YAML type).
    private func json(_ node: Node) throws(ScenarioError) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if node.null != nil { return "null" }
                if let value = node.bool { return value ? "true" : "false" }
                if node.int != nil || node.float != nil { return scalar.string }
            }
            return JSONText.quote(scalar.string)
        case .sequence(let items):
            var parts: [String] = []
            for item in items { parts.append(try json(item)) }
            return "[" + parts.joined(separator: ",") + "]"
        case .mapping(let map):
            var parts: [String] = []
            for (key, value) in map {
                guard let name = key.scalar?.string else { throw error(key, "JSON body keys must be text") }
                parts.append(JSONText.quote(name) + ":" + (try json(value)))
            }
            return "{" + parts.joined(separator: ",") + "}"
        }
    }
}

/// JSON string quoting.
enum JSONText {
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
