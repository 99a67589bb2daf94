import BookstoreCore
import Foundation
import JSONKit

/// Tokens signed like the users service signs them (HS512 with the shared secret unless told), for tests.
public struct TestTokens: Sendable {
    public let service: TokenService

    public init(secret: String, algorithm: TokenSettings.Algorithm = .hs512) {
        self.service = TokenService(settings: TokenSettings(secret: secret, algorithm: algorithm))
    }

    /// A user with the `USER` role whose name and email derive from `id`.
    public static func user(_ id: String) -> Identity {
        Identity(userID: id, username: id, email: "\(id)@example.com", roles: [Identity.userRole])
    }

    /// An administrator (`USER` and `ADMIN` roles) whose name and email derive from `id`.
    public static func admin(_ id: String) -> Identity {
        Identity(userID: id, username: id, email: "\(id)@example.com", roles: [Identity.userRole, Identity.adminRole])
    }

    /// A token for `identity`, issued at `now`.
    public func token(for identity: Identity, now: Date = Date()) -> String {
        self.service.issue(for: identity, now: now)
    }

    /// A token of the user `id` (``user(_:)``).
    public func user(_ id: String = "user-1", now: Date = Date()) -> String {
        self.token(for: Self.user(id), now: now)
    }

    /// A token of the administrator `id` (``admin(_:)``).
    public func admin(_ id: String = "admin-1", now: Date = Date()) -> String {
        self.token(for: Self.admin(id), now: now)
    }

    /// An unsigned `alg: none` token carrying valid-looking claims for `identity`, which no service may accept.
    public static func unsigned(_ identity: Identity, now: Date = Date()) -> String {
        let issued = Int(now.timeIntervalSince1970)
        let header: JSON = ["alg": "none", "typ": "JWT"]
        let claims: JSON = [
            "sub": .string(identity.userID),
            "username": .string(identity.username),
            "email": .string(identity.email),
            "roles": .array(identity.roles.map(JSON.string)),
            "iat": .int(issued),
            "exp": .int(issued + 3600),
        ]
        return self.base64URL(header.bytes) + "." + self.base64URL(claims.bytes) + "."
    }

    /// Base64url without padding (RFC 7515 §2).
    public static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
