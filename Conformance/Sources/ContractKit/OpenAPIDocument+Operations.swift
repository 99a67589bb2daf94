import Foundation
import JSONKit

/// An operation of an OpenAPI document, as matched for a request or listed by `OpenAPIDocument.operations`.
public struct OpenAPIOperation: Sendable, Hashable {
    /// The HTTP method, upper case (`GET`).
    public let method: String
    /// The path as the document writes it (`/api/reviews/book/{book_id}`).
    public let pathTemplate: String
    /// The values of the templated segments for the matched request path (`["book_id": "abc"]`); empty in listings.
    public let pathParameters: [String: String]
    /// The operation object (`summary`, `parameters`, `requestBody`, `responses`, …), references left in place.
    public let definition: JSON
    /// The security requirements in force: the operation's own `security`, else the document's.
    public let security: [JSON]

    /// The operation's `operationId`.
    public var operationID: String? { self.definition["operationId"]?.stringValue }

    /// The status keys the operation documents, in document order (`200`, `4XX`, `default`, …).
    public var documentedStatuses: [String] { self.definition["responses"]?.objectValue?.keys ?? [] }

    /// Whether a request needs credentials: some security requirement applies and none of them is the empty
    /// (anonymous) one.
    public var requiresAuthentication: Bool {
        !self.security.isEmpty && !self.security.contains { $0.objectValue?.count == 0 }
    }
}

/// One entry of the document's `paths`, with its template split into segments for matching.
struct PathEntry: Sendable {
    let template: String
    let item: JSON
    let segments: [PathTemplateSegment]

    init(template: String, item: JSON) {
        self.template = template
        self.item = item
        self.segments = PathTemplateSegment.split(template)
    }

    /// The templated values when `requestSegments` match this entry, else nil.
    func match(_ requestSegments: [String]) -> [String: String]? {
        guard requestSegments.count == self.segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(self.segments, requestSegments) {
            guard segment.match(value, into: &parameters) else { return nil }
        }
        return parameters
    }

    /// Whether this entry should win over `other` when both match: the first segment where one is a plain
    /// literal and the other is templated decides (literal wins), then the fewer template parameters.
    func isMoreSpecific(than other: PathEntry) -> Bool {
        for (mine, theirs) in zip(self.segments, other.segments) where mine.isLiteral != theirs.isLiteral {
            return mine.isLiteral
        }
        return self.segments.reduce(0) { $0 + $1.parameterCount } < other.segments.reduce(0) { $0 + $1.parameterCount }
    }
}

/// One `/`-separated segment of a path template: literal text and `{name}` parameters (`{id}`, `{id}.json`).
struct PathTemplateSegment: Sendable {
    enum Part: Sendable {
        case literal(String)
        case parameter(String)
    }

    let parts: [Part]

    var isLiteral: Bool { self.parameterCount == 0 }
    var parameterCount: Int { self.parts.count { if case .parameter = $0 { true } else { false } } }

    static func split(_ template: String) -> [PathTemplateSegment] {
        PathNormalization.segments(of: template, decode: false).map(PathTemplateSegment.init(segment:))
    }

    init(segment: String) {
        var parts: [Part] = []
        var rest = Substring(segment)
        while !rest.isEmpty {
            if let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                if open > rest.startIndex { parts.append(.literal(String(rest[rest.startIndex..<open]))) }
                parts.append(.parameter(String(rest[rest.index(after: open)..<close])))
                rest = rest[rest.index(after: close)...]
            } else {
                parts.append(.literal(String(rest)))
                rest = ""
            }
        }
        self.parts = parts
    }

    /// Matches one request segment; each parameter takes at least one character.
    func match(_ value: String, into parameters: inout [String: String]) -> Bool {
        Self.match(self.parts[...], Substring(value), into: &parameters)
    }

    private static func match(_ parts: ArraySlice<Part>, _ value: Substring, into parameters: inout [String: String]) -> Bool {
        guard let first = parts.first else { return value.isEmpty }
        switch first {
        case .literal(let literal):
            guard value.hasPrefix(literal) else { return false }
            return Self.match(parts.dropFirst(), value.dropFirst(literal.count), into: &parameters)
        case .parameter(let name):
            guard !value.isEmpty else { return false }
            // Try the longest capture first so that `{file}.json` takes `a.b` from `a.b.json`.
            var end = value.endIndex
            while end > value.startIndex {
                var attempt = parameters
                attempt[name] = String(value[value.startIndex..<end])
                if Self.match(parts.dropFirst(), value[end...], into: &attempt) {
                    parameters = attempt
                    return true
                }
                end = value.index(before: end)
            }
            return false
        }
    }
}

enum PathNormalization {
    /// The path's segments: any scheme and authority, query and fragment dropped, a trailing slash ignored,
    /// and (for request paths) each segment percent-decoded.
    static func segments(of path: String, decode: Bool) -> [String] {
        var rest = Substring(path)
        if let schemeEnd = rest.range(of: "://") {
            rest = rest[schemeEnd.upperBound...]
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        if let queryStart = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<queryStart] }
        if rest.hasPrefix("/") { rest = rest.dropFirst() }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { return [] }
        return rest.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            decode ? (String(segment).removingPercentEncoding ?? String(segment)) : String(segment)
        }
    }
}

extension OpenAPIDocument {
    static let httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Every operation of the document, in document order.
    public var operations: [OpenAPIOperation] {
        self.paths.flatMap { entry in
            let item = self.resolve(entry.item)
            return Self.httpMethods.compactMap { method in
                self.makeOperation(method: method, entry: entry, item: item, parameters: [:])
            }
        }
    }

    /// The operation a request hits: the path templates that match `path` and define `method`, the most specific
    /// first (literal segments win over templated ones); a trailing slash, a query string or a full URL are
    /// tolerated. Nil when the document has no such operation.
    public func operation(method: String, path: String) -> OpenAPIOperation? {
        let methodKey = method.lowercased()
        let requestSegments = PathNormalization.segments(of: path, decode: true)
        var best: (entry: PathEntry, parameters: [String: String])?
        for entry in self.paths {
            guard let parameters = entry.match(requestSegments), self.resolve(entry.item)[methodKey] != nil else { continue }
            if let current = best, !entry.isMoreSpecific(than: current.entry) { continue }
            best = (entry, parameters)
        }
        guard let best else { return nil }
        return self.makeOperation(method: methodKey, entry: best.entry, item: self.resolve(best.entry.item), parameters: best.parameters)
    }

    private func makeOperation(method: String, entry: PathEntry, item: JSON, parameters: [String: String]) -> OpenAPIOperation? {
        guard let definition = item[method], case .object = definition else { return nil }
        let security = definition["security"]?.arrayValue ?? self.root["security"]?.arrayValue ?? []
        return OpenAPIOperation(
            method: method.uppercased(),
            pathTemplate: entry.template,
            pathParameters: parameters,
            definition: definition,
            security: security
        )
    }
}
