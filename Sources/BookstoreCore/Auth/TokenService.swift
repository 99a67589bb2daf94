import Crypto
import Foundation
import JSONKit

/// JWT settings: `JWT_SECRET` (at least 32 bytes), `JWT_ALGORITHM` (HS256, HS384 or HS512; default HS512),
/// `JWT_EXPIRATION_HOURS` (default 24).
public struct TokenSettings: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hs256 = "HS256"
        case hs384 = "HS384"
        case hs512 = "HS512"
    }

    public var secret: String
    public var algorithm: Algorithm
    public var lifetimeSeconds: Int

    public init(secret: String, algorithm: Algorithm = .hs512, lifetimeSeconds: Int = 24 * 3600) {
        self.secret = secret
        self.algorithm = algorithm
        self.lifetimeSeconds = lifetimeSeconds
    }

    public init(settings: Settings) throws(ConfigurationError) {
        let secret = try settings.requiredString("JWT_SECRET")
        guard secret.utf8.count >= 32 else {
            throw ConfigurationError("JWT_SECRET is too short: it must be at least 32 bytes")
        }
        let name = settings.string("JWT_ALGORITHM", default: "HS512").uppercased()
        guard let algorithm = Algorithm(rawValue: name) else {
            throw ConfigurationError("invalid JWT_ALGORITHM=\(name): expected HS256, HS384 or HS512")
        }
        let hours = try settings.int("JWT_EXPIRATION_HOURS", default: 24, range: 1...24 * 365)
        self.init(secret: secret, algorithm: algorithm, lifetimeSeconds: hours * 3600)
    }
}

/// The authenticated caller.
public struct Identity: Sendable, Equatable {
    public static let adminRole = "ROLE_ADMIN"
    public static let userRole = "ROLE_USER"

    public var userID: String
    public var username: String
    public var email: String
    public var roles: [String]

    public init(userID: String, username: String, email: String, roles: [String]) {
        self.userID = userID
        self.username = username
        self.email = email
        self.roles = roles
    }

    public var isAdmin: Bool { self.roles.contains(Self.adminRole) }

    /// Whether the caller may act for `userID`: itself, or an admin.
    public func mayActFor(_ userID: String) -> Bool { self.isAdmin || self.userID == userID }
}

/// Signs and verifies HMAC JWTs (RFC 7519) with claims `sub`, `username`, `email`, `roles`, `iat`, `exp`.
///
/// Only the configured algorithm is accepted: a header with `alg: none`, another HMAC size or an asymmetric
/// algorithm is rejected before any signature check; signatures are compared in constant time.
public struct TokenService: Sendable {
    public let settings: TokenSettings
    private let key: SymmetricKey
    private let verified = VerifiedTokenCache()

    public init(settings: TokenSettings) {
        self.settings = settings
        self.key = SymmetricKey(data: Array(settings.secret.utf8))
    }

    /// Issues a token for `identity`, valid for the configured lifetime.
    public func issue(for identity: Identity, now: Date = Date()) -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        let header: JSON = ["alg": .string(self.settings.algorithm.rawValue), "typ": "JWT"]
        let claims: JSON = [
            "sub": .string(identity.userID),
            "username": .string(identity.username),
            "email": .string(identity.email),
            "roles": .array(identity.roles.map(JSON.string)),
            "iat": .int(issuedAt),
            "exp": .int(issuedAt + self.settings.lifetimeSeconds),
        ]
        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(claims.bytes)
        return signingInput + "." + Base64URL.encode(self.signature(Array(signingInput.utf8)))
    }

    /// Verifies `token` and returns the identity it carries, or throws a 401 ``APIError``. A token that verified before
    /// is looked up instead of verified again (see ``VerifiedTokenCache``); its expiry is checked every time.
    public func verify(_ token: String, now: Date = Date()) throws(APIError) -> Identity {
        if let entry = self.verified.entry(for: token) {
            guard now.timeIntervalSince1970 < entry.expiry else { throw APIError.unauthorized("Token expired") }
            return entry.identity
        }
        // Split on the UTF-8 bytes: `String.split` would break the token into grapheme clusters first.
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map { Substring($0) }
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSON.parse(headerBytes),
            header["alg"]?.stringValue == self.settings.algorithm.rawValue,
            let signature = Base64URL.decode(parts[2]),
            self.isValid(signature: signature, for: Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)))
        else {
            throw APIError.unauthorized("Invalid token")
        }
        guard let payloadBytes = Base64URL.decode(parts[1]), let claims = try? JSON.parse(payloadBytes),
            let subject = claims["sub"]?.stringValue, !subject.isEmpty,
            let expiry = claims["exp"]?.doubleValue
        else {
            throw APIError.unauthorized("Invalid token")
        }
        guard now.timeIntervalSince1970 < expiry else { throw APIError.unauthorized("Token expired") }
        let identity = Identity(
            userID: subject,
            username: claims["username"]?.stringValue ?? "",
            email: claims["email"]?.stringValue ?? "",
            roles: claims["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        )
        self.verified.store(VerifiedTokenCache.Entry(identity: identity, expiry: expiry), for: token)
        return identity
    }

    private func signature(_ input: [UInt8]) -> [UInt8] {
        switch self.settings.algorithm {
        case .hs256: Array(HMAC<SHA256>.authenticationCode(for: input, using: self.key))
        case .hs384: Array(HMAC<SHA384>.authenticationCode(for: input, using: self.key))
        case .hs512: Array(HMAC<SHA512>.authenticationCode(for: input, using: self.key))
        }
    }

    private func isValid(signature: [UInt8], for input: [UInt8]) -> Bool {
        switch self.settings.algorithm {
        case .hs256: HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: self.key)
        case .hs384: HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: input, using: self.key)
        case .hs512: HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: input, using: self.key)
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as JWTs use it; written on bytes (no `Data`, no string replacing).
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// The 6-bit value of each byte, 0xFF for bytes outside the alphabet (padding, `+` and `/` included).
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(index) }
        return values
    }()

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index < input.count {
            let count = min(3, input.count - index)
            var group = UInt32(input[index]) << 16
            if count > 1 { group |= UInt32(input[index + 1]) << 8 }
            if count > 2 { group |= UInt32(input[index + 2]) }
            for position in 0...count { output.append(self.alphabet[Int(group >> UInt32(18 - 6 * position) & 0x3F)]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of unpadded base64url `text`, or nil when it has a byte outside the alphabet or an impossible length.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in utf8 {
            let value = self.values[Int(byte)]
            guard value != 0xFF else { return nil }
            accumulator = (accumulator << 6 | UInt32(value)) & 0xFFFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }
}
