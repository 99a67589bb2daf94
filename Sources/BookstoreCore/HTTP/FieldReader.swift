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

    /// Whether a present field is `null`: an error for every field the reader reads (a JSON `null` is never a way to
    /// leave a value unchanged or to pick a default; leave the field out instead). Records the problem.
    mutating func isNull(_ key: String, name: String, required: Bool) -> Bool {
        guard self.object[key] == .null else { return false }
        self.fail(name, required ? "\(name) is required" : "\(name) must not be null")
        return true
    }

    /// A string field. Free text is trimmed of surrounding whitespace and its length counted after trimming; a value
    /// with a `pattern` whose rule is ``StringRule/isExact`` (identifiers, e-mail addresses) or read with
    /// `trimming: false` (card data) is checked exactly as sent, so surrounding whitespace makes it invalid.
    /// Blank and NUL-containing values are errors even for optional fields; so is `null`.
    /// - Parameters:
    ///   - key: the JSON key (also used in messages unless `label` is given).
    ///   - required: whether absence is an error.
    ///   - length: allowed length in Unicode scalars (after trimming, for free text).
    ///   - pattern: a predicate the value must satisfy, with the message used when it does not.
    ///   - trimming: whether surrounding whitespace is removed before the checks (default: unless the rule is exact).
    public mutating func string(
        _ key: String,
        label: String? = nil,
        required: Bool = true,
        length: ClosedRange<Int>? = nil,
        pattern: StringRule? = nil,
        trimming: Bool? = nil
    ) -> String? {
        let name = label ?? key
        guard let value = self.object[key] else {
            if required { self.fail(name, "\(name) is required") }
            return nil
        }
        guard !self.isNull(key, name: name, required: required) else { return nil }
        guard case .string(let raw) = value else {
            self.fail(name, "\(name) must be a string")
            return nil
        }
        let text = (trimming ?? !(pattern?.isExact ?? false)) ? raw.trimmingWhitespace() : raw
        if text.trimmingWhitespace().isEmpty {
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
        guard let value = self.object[key] else {
            if required { self.fail(name, "\(name) is required") }
            return nil
        }
        guard !self.isNull(key, name: name, required: required) else { return nil }
        guard let number = value.intValue, range.contains(number) else {
            self.fail(name, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    /// The raw value of a field, for types the reader does not know (money, for example); nil when absent, and nil
    /// with a recorded problem when `null`.
    public mutating func value(_ key: String, label: String? = nil, required: Bool = true) -> JSON? {
        let name = label ?? key
        guard let value = self.object[key] else {
            if required { self.fail(name, "\(name) is required") }
            return nil
        }
        guard !self.isNull(key, name: name, required: required) else { return nil }
        return value
    }
}

/// A predicate on a string field and the message (after the field name) used when it fails.
public struct StringRule: Sendable {
    public let check: @Sendable (String) -> Bool
    public let message: String
    /// Whether the rule applies to the value exactly as sent (no trimming): for values such as identifiers, where
    /// surrounding whitespace is a mistake rather than formatting.
    public let isExact: Bool

    public init(message: String, isExact: Bool = false, check: @escaping @Sendable (String) -> Bool) {
        self.check = check
        self.message = message
        self.isExact = isExact
    }
}

/// Common string rules for ``FieldReader/string(_:label:required:length:pattern:)``.
public enum Patterns {
    /// `^[A-Za-z0-9_-]+$`
    public static let identifier = StringRule(message: "may contain only letters, digits, '_' and '-'", isExact: true) { text in
        text.utf8.allSatisfy { byte in Patterns.isIdentifierByte(byte) }
    }

    /// A practical e-mail address: a dot-atom local part of at most 64 characters (letters, digits and
    /// ``!#$%&'*+/=?^_`{|}~-``, dots only between them) and a domain of at least two letter-digit-hyphen labels
    /// (1–63 characters, no hyphen at either end). The contracts state the same rule as a pattern.
    public static let email = StringRule(message: "must be a valid email address", isExact: true) { text in
        let bytes = Array(text.utf8)
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")), at > 0, at <= 64 else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        let localSpecials = Array("!#$%&'*+/=?^_`{|}~-".utf8)
        for atom in local.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !atom.isEmpty, atom.allSatisfy({ Self.isAlphanumeric($0) || localSpecials.contains($0) }) else { return false }
        }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        return true
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: false
        }
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
