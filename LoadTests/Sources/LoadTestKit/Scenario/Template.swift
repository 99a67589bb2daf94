import Foundation
import NIOCore

/// A text template with `{{…}}` placeholders, used for request paths, headers and bodies.
///
/// Placeholders:
/// - `{{uuid}}` a random UUID (version 4 layout), `{{seq}}` the request's sequence number in the run,
/// - `{{randInt A B}}` a random integer in `A...B`, `{{amount A B}}` a random amount with two decimals in `A...B`,
/// - `{{randString N}}` N random letters and digits, `{{pick a b c}}` one of the given words,
/// - `{{name}}` a variable: a scenario variable or a value captured by a setup step (e.g. `{{token}}`).
///
/// Templates are parsed once; rendering writes straight into a `ByteBuffer`.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(String)
        case uuid
        case sequence
        case randomInt(Int, Int)
        case amount(Int, Int)
        case randomString(Int)
        case pick([String])
    }

    /// The text the template was parsed from.
    public let source: String
    let parts: [Part]

    /// Parses a template.
    ///
    /// - Parameter source: The template text.
    /// - Throws: ``TemplateError`` for an unterminated or malformed placeholder.
    public init(_ source: String) throws(TemplateError) {
        self.source = source
        self.parts = try Template.parse(source)
    }

    init(source: String, parts: [Part]) {
        self.source = source
        self.parts = Template.merged(parts)
    }

    /// A template that renders `text` as is.
    public static func literal(_ text: String) -> Template {
        Template(source: text, parts: text.isEmpty ? [] : [.literal(text)])
    }

    public var description: String { source }

    /// The names of the variables the template refers to.
    public var variableNames: [String] {
        parts.compactMap { part in
            if case .variable(let name) = part { return name }
            return nil
        }
    }

    /// Whether the template renders the same text every time (no placeholders left).
    public var isConstant: Bool {
        parts.allSatisfy { part in
            if case .literal = part { return true }
            return false
        }
    }

    /// The constant text, when ``isConstant``.
    var constantText: String? {
        guard isConstant else { return nil }
        return parts.map { part -> String in
            if case .literal(let text) = part { return text }
            return ""
        }.joined()
    }

    /// Replaces variables by their values.
    ///
    /// - Parameter variables: Values by name.
    /// - Throws: ``TemplateError/undefinedVariable(_:template:)`` when a variable has no value.
    public func resolving(_ variables: [String: String]) throws(TemplateError) -> Template {
        var resolved: [Part] = []
        resolved.reserveCapacity(parts.count)
        for part in parts {
            if case .variable(let name) = part {
                guard let value = variables[name] else { throw .undefinedVariable(name, template: source) }
                resolved.append(.literal(value))
            } else {
                resolved.append(part)
            }
        }
        return Template(source: source, parts: resolved)
    }

    /// Appends another template.
    static func + (lhs: Template, rhs: Template) -> Template {
        Template(source: lhs.source + rhs.source, parts: lhs.parts + rhs.parts)
    }

    /// Renders into a buffer. Variables must have been resolved first.
    func render(into buffer: inout ByteBuffer, context: inout TemplateContext) {
        for part in parts {
            switch part {
            case .literal(let text):
                buffer.writeString(text)
            case .variable(let name):
                buffer.writeString(context.variables[name] ?? "")
            case .uuid:
                Template.writeUUID(into: &buffer, random: &context.random)
            case .sequence:
                Template.writeInteger(context.sequence, into: &buffer)
            case .randomInt(let low, let high):
                let span = UInt64(bitPattern: Int64(high &- low)) &+ 1
                let value = low &+ Int(truncatingIfNeeded: context.random.below(span))
                Template.writeInteger(value, into: &buffer)
            case .amount(let low, let high):
                let lowCents = low * 100
                let span = UInt64(high * 100 - lowCents) + 1
                let cents = lowCents + Int(context.random.below(span))
                Template.writeInteger(cents / 100, into: &buffer)
                buffer.writeInteger(UInt8(ascii: "."))
                let fraction = cents % 100
                buffer.writeInteger(UInt8(ascii: "0") + UInt8(fraction / 10))
                buffer.writeInteger(UInt8(ascii: "0") + UInt8(fraction % 10))
            case .randomString(let length):
                for _ in 0..<length {
                    buffer.writeInteger(Template.alphanumerics[Int(context.random.below(62))])
                }
            case .pick(let words):
                buffer.writeString(words[Int(context.random.below(UInt64(words.count)))])
            }
        }
    }

    /// Renders to a string (used for setup steps and variables).
    func render(context: inout TemplateContext) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: source.utf8.count + 16)
        render(into: &buffer, context: &context)
        return buffer.readString(length: buffer.readableBytes) ?? ""
    }

    // MARK: Rendering helpers

    private static let alphanumerics: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    static func writeInteger(_ value: Int, into buffer: inout ByteBuffer) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            writeUnsigned(value.magnitude, into: &buffer)
        } else {
            writeUnsigned(UInt(value), into: &buffer)
        }
    }

    @inline(__always)
    static func writeUnsigned(_ value: UInt, into buffer: inout ByteBuffer) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }

    static func writeUUID(into buffer: inout ByteBuffer, random: inout FastRandom) {
        let high = (random.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let low = (random.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 36) { raw in
            var position = 0
            func hex(_ word: UInt64, from: Int, count: Int) {
                for index in 0..<count {
                    let shift = UInt64(60 - 4 * (from + index))
                    raw[position] = hexDigits[Int((word >> shift) & 0xF)]
                    position += 1
                }
            }
            hex(high, from: 0, count: 8)
            raw[position] = UInt8(ascii: "-")
            position += 1
            hex(high, from: 8, count: 4)
            raw[position] = UInt8(ascii: "-")
            position += 1
            hex(high, from: 12, count: 4)
            raw[position] = UInt8(ascii: "-")
            position += 1
            hex(low, from: 0, count: 4)
            raw[position] = UInt8(ascii: "-")
            position += 1
            hex(low, from: 4, count: 12)
            return position
        }
    }

    // MARK: Parsing

    private static func parse(_ source: String) throws(TemplateError) -> [Part] {
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex {
                parts.append(.literal(String(rest[..<open.lowerBound])))
            }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw .unterminatedPlaceholder(template: source)
            }
            let expression = rest[open.upperBound..<close.lowerBound]
            parts.append(try parsePlaceholder(expression, template: source))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty {
            parts.append(.literal(String(rest)))
        }
        return merged(parts)
    }

    private static func parsePlaceholder(_ expression: Substring, template: String) throws(TemplateError) -> Part {
        let words = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let head = words.first else { throw .malformedPlaceholder(String(expression), template: template) }
        let arguments = Array(words.dropFirst())
        func integers(_ count: Int) throws(TemplateError) -> [Int] {
            guard arguments.count == count else { throw .malformedPlaceholder(String(expression), template: template) }
            var values: [Int] = []
            for argument in arguments {
                guard let value = Int(argument) else { throw .malformedPlaceholder(String(expression), template: template) }
                values.append(value)
            }
            return values
        }
        switch head {
        case "uuid":
            guard arguments.isEmpty else { throw .malformedPlaceholder(String(expression), template: template) }
            return .uuid
        case "seq":
            guard arguments.isEmpty else { throw .malformedPlaceholder(String(expression), template: template) }
            return .sequence
        case "randInt":
            let values = try integers(2)
            guard values[0] <= values[1] else { throw .malformedPlaceholder(String(expression), template: template) }
            return .randomInt(values[0], values[1])
        case "amount":
            let values = try integers(2)
            guard values[0] >= 0, values[0] <= values[1], values[1] <= 1_000_000_000 else {
                throw .malformedPlaceholder(String(expression), template: template)
            }
            return .amount(values[0], values[1])
        case "randString":
            let values = try integers(1)
            guard values[0] >= 1, values[0] <= 4096 else { throw .malformedPlaceholder(String(expression), template: template) }
            return .randomString(values[0])
        case "pick":
            guard !arguments.isEmpty else { throw .malformedPlaceholder(String(expression), template: template) }
            return .pick(arguments)
        default:
            guard arguments.isEmpty, isIdentifier(head) else { throw .malformedPlaceholder(String(expression), template: template) }
            return .variable(head)
        }
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }

    private static func merged(_ parts: [Part]) -> [Part] {
        var result: [Part] = []
        result.reserveCapacity(parts.count)
        for part in parts {
            if case .literal(let text) = part, let last = result.last, case .literal(let previous) = last {
                result[result.count - 1] = .literal(previous + text)
            } else if case .literal(let text) = part, text.isEmpty {
                continue
            } else {
                result.append(part)
            }
        }
        return result
    }
}

/// The per-request state templates render with.
struct TemplateContext {
    var random: FastRandom
    var sequence: Int = 0
    var variables: [String: String] = [:]
}

/// A template that cannot be parsed or rendered.
public enum TemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    case unterminatedPlaceholder(template: String)
    case malformedPlaceholder(String, template: String)
    case undefinedVariable(String, template: String)

    public var description: String {
        switch self {
        case .unterminatedPlaceholder(let template):
            "template '\(template)': '{{' without a closing '}}'"
        case .malformedPlaceholder(let expression, let template):
            "template '\(template)': cannot read placeholder '{{\(expression)}}' "
                + "(expected uuid, seq, randInt A B, amount A B, randString N, pick a b …, or a variable name)"
        case .undefinedVariable(let name, let template):
            "template '\(template)': variable '\(name)' is not defined (define it under 'variables' or capture it in a setup step)"
        }
    }
}
