import JSONKit

/// Reads and validates the fields of a JSON request object, collecting every problem with a message
/// that names the field, so one 400 response lists them all.
public struct FieldReader: Sendable {
    public let object: JSONObject
    public private(set) var errors: [FieldError] = []

    public init(_ object: JSONObject) {
        self.object = object
    }

    /// Records a problem with `field`.
    public mutating func fail(_ field: String, _ message: String) {
        self.errors.append(FieldError(field: field, message: message))
    }

    /// Throws a 400 ``APIError`` listing every recorded problem, if there is any.
    public func validate() throws(APIError) {
        if !self.errors.isEmpty { throw APIError.validation(self.errors) }
    }

    /// Whether the key is present with a non-null value.
    public func has(_ key: String) -> Bool {
        if let value = self.object[key], value != .null { return true }
        return false
    }

    /// A string field, trimmed; blank counts as missing.
    /// - Parameters:
    ///   - key: the JSON key (also used in messages unless `label` is given).
    ///   - required: whether absence is an error.
    ///   - length: allowed length in Unicode scalars after trimming.
    ///   - pattern: a predicate the value must satisfy, with the message used when it does not.
    public mutating func string(
        _ key: String,
        label: String? = nil,
        required: Bool = true,
        length: ClosedRange<Int>? = nil,
        pattern: StringRule? = nil
    ) -> String? {
        let name = label ?? key
        guard let value = self.object[key], value != .null else {
            if required { self.fail(name, "\(name) is required") }
            return nil
        }
        guard case .string(let raw) = value else {
            self.fail(name, "\(name) must be a string")
            return nil
        }
        let text = raw.trimmingWhitespace()
        if text.isEmpty {
            // Present but blank is an error even for optional fields: it is never a way to leave a value unchanged.
            self.fail(name, "\(name) must not be blank")
            return nil
        }
        if text.unicodeScalars.contains("\u{0}") {
            self.fail(name, "\(name) must not contain NUL characters")
            return nil
        }
        if let length, !length.contains(text.unicodeScalars.count) {
            if length.lowerBound == length.upperBound {
                self.fail(name, "\(name) must be exactly \(length.lowerBound) characters")
            } else if length.lowerBound <= 1 {
                self.fail(name, "\(name) must be at most \(length.upperBound) characters")
            } else {
                self.fail(name, "\(name) must be between \(length.lowerBound) and \(length.upperBound) characters")
            }
            return nil
        }
        if let pattern, !pattern.check(text) {
            self.fail(name, "\(name) \(pattern.message)")
            return nil
        }
        return text
    }

    /// An integer field written as an integer literal (`5`, not `5.0`, `"5"` or `true`).
    public mutating func integer(_ key: String, label: String? = nil, required: Bool = true, range: ClosedRange<Int>) -> Int? {
        let name = label ?? key
        guard let value = self.object[key], value != .null else {
            if required { self.fail(name, "\(name) is required") }
            return nil
        }
        guard let number = value.intValue, range.contains(number) else {
            self.fail(name, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    /// The raw value of a field, for types the reader does not know (money, for example).
    public func value(_ key: String) -> JSON? {
        guard let value = self.object[key], value != .null else { return nil }
        return value
    }
}

/// A predicate on a string field and the message (after the field name) used when it fails.
public struct StringRule: Sendable {
    public let check: @Sendable (String) -> Bool
    public let message: String

    public init(message: String, check: @escaping @Sendable (String) -> Bool) {
        self.check = check
        self.message = message
    }
}

/// Common string rules for ``FieldReader/string(_:label:required:length:pattern:)``.
public enum Patterns {
    /// `^[A-Za-z0-9_-]+$`
    public static let identifier = StringRule(message: "may contain only letters, digits, '_' and '-'") { text in
        text.utf8.allSatisfy { byte in Patterns.isIdentifierByte(byte) }
    }

    /// A practical e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
    public static let email = StringRule(message: "must be a valid email address") { text in
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !text.contains(where: \.isWhitespace) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// Whether `text` is a non-empty identifier of at most 100 characters (path parameters).
    public static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 100 && text.utf8.allSatisfy(isIdentifierByte)
    }
}
