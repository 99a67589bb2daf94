import Foundation
import Synchronization

/// Why a user could not be stored.
public enum UserRepositoryError: Error, Sendable, Equatable {
    case duplicateUsername
    case duplicateEmail
}

/// Storage of users. Usernames and e-mails are unique, compared case-insensitively.
public protocol UserRepository: Sendable {
    /// Stores a new user; throws ``UserRepositoryError`` on a duplicate username or e-mail.
    func create(_ user: User) async throws
    func find(id: UUID) async throws -> User?
    /// The users with these ids, in the same order (`nil` where there is none), read as one operation (a request that
    /// checks its caller and reads another user: one time limit for both reads).
    func find(ids: [UUID]) async throws -> [User?]
    /// Finds a user by username or e-mail (case-insensitive).
    func find(usernameOrEmail: String) async throws -> User?
    /// Users ordered by creation time.
    func list(offset: Int, limit: Int) async throws -> [User]
    /// Replaces a stored user; returns false when it does not exist.
    func update(_ user: User) async throws -> Bool
    /// Deletes a user and their roles; returns false when it does not exist.
    func delete(id: UUID) async throws -> Bool
    /// Whether the store is reachable (readiness).
    func isHealthy() async -> Bool
}

extension UserRepository {
    public func find(ids: [UUID]) async throws -> [User?] {
        var users: [User?] = []
        users.reserveCapacity(ids.count)
        for id in ids { users.append(try await self.find(id: id)) }
        return users
    }
}

/// The in-memory repository of the embedded mode.
public final class MemoryUserRepository: UserRepository {
    private struct Storage {
        var users: [UUID: User] = [:]
        var order: [UUID] = []
        var byUsername: [String: UUID] = [:]
        var byEmail: [String: UUID] = [:]
    }

    private let storage = Mutex(Storage())

    public init() {}

    public func create(_ user: User) async throws {
        try self.storage.withLock { storage in
            let username = user.username.lowercased()
            let email = user.email.lowercased()
            guard storage.byUsername[username] == nil else { throw UserRepositoryError.duplicateUsername }
            guard storage.byEmail[email] == nil else { throw UserRepositoryError.duplicateEmail }
            storage.users[user.id] = user
            storage.order.append(user.id)
            storage.byUsername[username] = user.id
            storage.byEmail[email] = user.id
        }
    }

    public func find(id: UUID) async throws -> User? {
        self.storage.withLock { $0.users[id] }
    }

    public func find(usernameOrEmail: String) async throws -> User? {
        let key = usernameOrEmail.lowercased()
        return self.storage.withLock { storage in
            guard let id = storage.byUsername[key] ?? storage.byEmail[key] else { return nil }
            return storage.users[id]
        }
    }

    public func list(offset: Int, limit: Int) async throws -> [User] {
        self.storage.withLock { storage in
            guard offset < storage.order.count else { return [] }
            return storage.order[offset..<min(storage.order.count, offset + limit)].compactMap { storage.users[$0] }
        }
    }

    public func update(_ user: User) async throws -> Bool {
        self.storage.withLock { storage in
            guard storage.users[user.id] != nil else { return false }
            storage.users[user.id] = user
            return true
        }
    }

    public func delete(id: UUID) async throws -> Bool {
        self.storage.withLock { storage in
            guard let user = storage.users.removeValue(forKey: id) else { return false }
            storage.order.removeAll { $0 == id }
            storage.byUsername[user.username.lowercased()] = nil
            storage.byEmail[user.email.lowercased()] = nil
            return true
        }
    }

    public func isHealthy() async -> Bool { true }
}
