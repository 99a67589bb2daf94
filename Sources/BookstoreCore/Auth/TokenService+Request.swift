import Hummingbird

extension TokenService {
    /// The caller's identity from the request's bearer token, or a 401 ``APIError``.
    public func authenticate(_ request: Request) async throws(APIError) -> Identity {
        guard let token = request.bearerToken, !token.isEmpty else {
            throw APIError.unauthorized("Missing or invalid Authorization header")
        }
        return try self.verify(token)
    }

    /// The caller's identity, which must carry the admin role (403 otherwise).
    public func authenticateAdmin(_ request: Request) async throws(APIError) -> Identity {
        let identity = try await self.authenticate(request)
        guard identity.isAdmin else { throw APIError.forbidden("Admin role required") }
        return identity
    }
}
