import CMongoC
import Foundation

/// A MongoDB failure that is not a dependency outage: a duplicate key, a rejected command, a document that cannot be
/// stored.
///
/// Outages (no server, server selection or socket timeouts, authentication) are not thrown as `MongoError` by the
/// collection methods: they become ``BookstoreCore/DependencyError`` (`dependency: "database"`, 503 for clients).
/// `description` is safe to show anywhere (it never contains the driver's text, which may quote stored values);
/// `String(reflecting:)` adds the driver's message, for the logs only.
public struct MongoError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: Sendable, Hashable {
            case duplicateKey
            case unavailable
            case server
            case invalidDocument
            case invalidRequest
            case closed
        }

        fileprivate let base: Base

        /// A unique index rejected the write (server codes 11000, 11001, 12582).
        public static let duplicateKey = Code(base: .duplicateKey)
        /// The server could not be reached or did not answer in time (a dependency outage).
        public static let unavailable = Code(base: .unavailable)
        /// The server rejected the operation for another reason (see ``MongoError/serverCode``).
        public static let server = Code(base: .server)
        /// A document could not be converted to or from BSON.
        public static let invalidDocument = Code(base: .invalidDocument)
        /// The driver refused the request before sending it (an invalid option or name).
        public static let invalidRequest = Code(base: .invalidRequest)
        /// The client was closed.
        public static let closed = Code(base: .closed)

        public var description: String {
            switch self.base {
            case .duplicateKey: "duplicate key"
            case .unavailable: "unavailable"
            case .server: "server error"
            case .invalidDocument: "invalid document"
            case .invalidRequest: "invalid request"
            case .closed: "client closed"
            }
        }
    }

    public let code: Code
    /// The server's error code when the server answered (e.g. 11000), else nil.
    public let serverCode: Int?
    /// For a duplicate key, the name of the violated index when the server reported it.
    public let indexName: String?
    /// The driver's message: for logs only, never for clients.
    let detail: String

    init(code: Code, serverCode: Int? = nil, indexName: String? = nil, detail: String) {
        self.code = code
        self.serverCode = serverCode
        self.indexName = indexName
        self.detail = detail
    }

    /// A duplicate key error, to compare or match against: `catch MongoError.duplicateKey`, `#expect(throws:)`.
    public static let duplicateKey = MongoError(code: .duplicateKey, detail: "")

    /// Whether a unique index rejected the write.
    public var isDuplicateKey: Bool { self.code == .duplicateKey }
    /// Whether the failure is a dependency outage (the caller should answer 503).
    public var isUnavailable: Bool { self.code == .unavailable || self.code == .closed }

    public var description: String {
        if let serverCode = self.serverCode { return "MongoDB \(self.code) (code \(serverCode))" }
        return "MongoDB \(self.code)"
    }

    public var debugDescription: String {
        var text = self.description
        if let indexName = self.indexName { text += " on index \(indexName)" }
        if !self.detail.isEmpty { text += ": \(self.detail)" }
        return text
    }

    /// Two errors are equal when they are of the same kind (so `MongoError.duplicateKey` matches any duplicate key).
    public static func == (lhs: MongoError, rhs: MongoError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// Lets `catch MongoError.duplicateKey` match a thrown error of the same kind.
    public static func ~= (pattern: MongoError, value: any Error) -> Bool {
        guard let error = value as? MongoError else { return false }
        return error.code == pattern.code
    }
}

extension MongoError {
    /// The error of a failed libmongoc call.
    init(_ error: bson_error_t) {
        let message = withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        self.init(domain: error.domain, code: error.code, message: message)
    }

    /// Classifies a libmongoc error (error API version 2) by its domain and code.
    init(domain: UInt32, code: UInt32, message: String) {
        let domainName = Self.domainName(domain)
        let detail = "\(message) [\(domainName) \(code)]"
        if Self.duplicateKeyCodes.contains(code) {
            self.init(code: .duplicateKey, serverCode: Int(code), indexName: Self.indexName(in: message), detail: detail)
            return
        }
        switch domain {
        case MONGOC_ERROR_SERVER.rawValue:
            let kind: Code = Self.unavailableServerCodes.contains(code) ? .unavailable : .server
            self.init(code: kind, serverCode: Int(code), detail: detail)
        case MONGOC_ERROR_WRITE_CONCERN.rawValue:
            self.init(code: .unavailable, serverCode: Int(code), detail: detail)
        case MONGOC_ERROR_CLIENT.rawValue where code == MONGOC_ERROR_CLIENT_TOO_BIG.rawValue,
            MONGOC_ERROR_BSON.rawValue:
            self.init(code: .invalidDocument, detail: detail)
        case MONGOC_ERROR_CLIENT.rawValue, MONGOC_ERROR_STREAM.rawValue, MONGOC_ERROR_PROTOCOL.rawValue, MONGOC_ERROR_SASL.rawValue,
            MONGOC_ERROR_SCRAM.rawValue, MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_POOL.rawValue:
            self.init(code: .unavailable, detail: detail)
        default:
            self.init(code: .invalidRequest, detail: detail)
        }
    }

    static let duplicateKeyCodes: Set<UInt32> = [11000, 11001, 12582]

    /// Server codes that mean the server is (temporarily) not able to serve: network errors, a primary stepping
    /// down, shutdown in progress, time limits exceeded.
    static let unavailableServerCodes: Set<UInt32> = [
        6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
    ]

    /// The index named in a duplicate key message (`… index: name dup key: …`).
    static func indexName(in message: String) -> String? {
        guard let range = message.range(of: "index: ") else { return nil }
        let name = message[range.upperBound...].prefix { $0 != " " && $0 != "," }
        return name.isEmpty ? nil : String(name)
    }

    static func domainName(_ domain: UInt32) -> String {
        switch domain {
        case MONGOC_ERROR_CLIENT.rawValue: "client"
        case MONGOC_ERROR_STREAM.rawValue: "stream"
        case MONGOC_ERROR_PROTOCOL.rawValue: "protocol"
        case MONGOC_ERROR_SERVER_SELECTION.rawValue: "server selection"
        case MONGOC_ERROR_SERVER.rawValue: "server"
        case MONGOC_ERROR_WRITE_CONCERN.rawValue: "write concern"
        case MONGOC_ERROR_BSON.rawValue: "bson"
        case MONGOC_ERROR_COMMAND.rawValue: "command"
        default: "domain \(domain)"
        }
    }

    static func invalidDocument(_ detail: String) -> MongoError { MongoError(code: .invalidDocument, detail: detail) }
    static let closedClient = MongoError(code: .closed, detail: "the client is closed")
}
