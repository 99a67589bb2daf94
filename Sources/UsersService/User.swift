import BookstoreCore
import Foundation
import JSONKit

/// A user account (tables `users` and `user_roles`).
public struct User: Sendable, Equatable {
    public var id: UUID
    public var username: String
    public var email: String
    public var passwordHash: String
    public var firstName: String
    public var lastName: String
    public var phone: String?
    public var address: String?
    public var active: Bool
    public var emailVerified: Bool
    public var roles: [String]
    public var createdAt: Date
    public var updatedAt: Date
    public var lastLogin: Date?

    public init(
        id: UUID = UUID(),
        username: String,
        email: String,
        passwordHash: String,
        firstName: String,
        lastName: String,
        phone: String? = nil,
        address: String? = nil,
        active: Bool = true,
        emailVerified: Bool = false,
        roles: [String] = [Identity.userRole],
        createdAt: Date = Date(),
        updatedAt: Date? = nil,
        lastLogin: Date? = nil
    ) {
        self.id = id
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.firstName = firstName
        self.lastName = lastName
        self.phone = phone
        self.address = address
        self.active = active
        self.emailVerified = emailVerified
        self.roles = roles
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.lastLogin = lastLogin
    }

    /// The contract's `UserResponse` (never the password hash).
    public var response: JSON {
        [
            "id": .string(self.id.lowercasedText),
            "username": .string(self.username),
            "email": .string(self.email),
            "firstName": .string(self.firstName),
            "lastName": .string(self.lastName),
            "phone": .optional(self.phone),
            "address": .optional(self.address),
            "active": .bool(self.active),
            "emailVerified": .bool(self.emailVerified),
            "roles": .array(self.roles.map(JSON.string)),
            "createdAt": .string(Timestamp.iso8601(self.createdAt)),
            "lastLogin": .optional(self.lastLogin.map(Timestamp.iso8601)),
        ]
    }

    public var identity: Identity {
        Identity(userID: self.id.lowercasedText, username: self.username, email: self.email, roles: self.roles)
    }
}
