import BookstoreCore
import Foundation

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

    /// An unsigned `alg: none` token carrying valid-looking claims for `identity` (an hour long), which no service may
    /// accept.
    public static func unsigned(_ identity: Identity, now: Date = Date()) -> String {
        let signer = TokenService(settings: TokenSettings(secret: "only-the-claims-of-this-token-are-kept-0123", lifetimeSeconds: 3600))
        let claims = signer.issue(for: identity, now: now).split(separator: ".")[1]
        return Base64URL.encode(#"{"alg":"none","typ":"JWT"}"#.utf8) + "." + claims + "."
    }
}
