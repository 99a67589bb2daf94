import BookstoreCore
import Foundation
import HTTPTypes
import Hummingbird
import JSONKit

/// Defects that recur across services, written once and planted in several: each returns a fault for one service.
extension FaultCatalogue {
    /// A GET of an unknown id under `pattern` answers 400 instead of 404.
    static func unknownIDAnswers400(_ name: String, service: String, pattern: String, checks: [String]) -> Fault {
        Fault(name, service: service, checks: checks, "an unknown id (GET \(pattern)) answers 400 instead of 404") { request, context, _, next in
            let response = try await next(request, context)
            guard request.method == .get, Rewrite.matches(request.uri.path, pattern), response.status == .notFound else { return response }
            return Rewrite.replacing(response, body: try await Rewrite.bytes(of: response), status: .badRequest)
        }
    }

    /// The service accepts unsigned (`alg: none`) tokens: it re-signs their claims before its own verification.
    static func acceptsAlgNone(_ name: String, service: String, checks: [String], _ summary: String) -> Fault {
        Fault(name, service: service, checks: checks, summary) { request, context, faults, next in
            guard let (header, claims) = Rewrite.claims(request.headers[.authorization]), header["alg"]?.stringValue?.lowercased() == "none"
            else { return try await next(request, context) }
            return try await next(Rewrite.setting(request, .authorization, to: "Bearer " + Rewrite.mint(faults.tokens, claims: claims)), context)
        }
    }

    /// The service ignores `exp`: an expired (signed) token is accepted.
    static func acceptsExpired(_ name: String, service: String, checks: [String], _ summary: String) -> Fault {
        Fault(name, service: service, checks: checks, summary) { request, context, faults, next in
            guard let (header, claims) = Rewrite.claims(request.headers[.authorization]), header["alg"]?.stringValue?.lowercased() != "none",
                let expiry = claims["exp"]?.doubleValue, expiry < Date().timeIntervalSince1970
            else { return try await next(request, context) }
            return try await next(Rewrite.setting(request, .authorization, to: "Bearer " + Rewrite.mint(faults.tokens, claims: claims)), context)
        }
    }

    /// GET /api/payments/{id} skips the ownership check: any user reads any payment (as an admin would).
    static func anyPaymentReadable(_ name: String, service: String, checks: [String]) -> Fault {
        Fault(name, service: service, checks: checks, "any user can read any payment by id") { request, context, faults, next in
            guard request.method == .get, Rewrite.matches(request.uri.path, "/api/payments/*"),
                let (_, claims) = Rewrite.claims(request.headers[.authorization])
            else { return try await next(request, context) }
            let admin = Rewrite.mint(faults.tokens, claims: claims, roles: [Identity.userRole, Identity.adminRole])
            return try await next(Rewrite.setting(request, .authorization, to: "Bearer \(admin)"), context)
        }
    }

    /// Every 4xx `field`'s text carries `leak` (an exception name, a stack frame or a traceback) after the message.
    static func errorsLeak(_ name: String, service: String, field: String, leak: String, checks: [String], _ summary: String) -> Fault {
        Fault(name, service: service, checks: checks, summary) { request, context, _, next in
            let response = try await next(request, context)
            guard response.status.code >= 400 else { return response }
            return try await Rewrite.json(response) { json in
                guard case .object(var body) = json, let message = body[field]?.stringValue else { return json }
                body[field] = .string(message + leak)
                return .object(body)
            }
        }
    }

    /// A POST or PUT body that is not JSON crashes the handler: 500 with `error`.
    static func nonJSONCrashes(_ name: String, service: String, error: String, checks: [String]) -> Fault {
        Fault(name, service: service, checks: checks, "a body that is not JSON crashes the handler (500)") { request, context, _, next in
            guard request.method == .post || request.method == .put else { return try await next(request, context) }
            let (bytes, request) = try await Rewrite.body(of: request)
            if !bytes.isEmpty, (try? JSON.parse(bytes)) == nil {
                return Rewrite.jsonResponse(["error": .string(error)], status: .internalServerError)
            }
            return try await next(request, context)
        }
    }

    /// A list under `pattern` with a `limit` outside 1…100 (0, 101, x) returns up to 100 items instead of 400.
    static func badLimitReturnsEverything(_ name: String, service: String, pattern: String, checks: [String]) -> Fault {
        Fault(name, service: service, checks: checks, "limit=0 (and any bad limit) returns everything instead of 400") {
            request,
            context,
            _,
            next in
            guard request.method == .get, Rewrite.matches(request.uri.path, pattern), let limit = request.uri.queryParameters["limit"],
                Int(limit).map({ !(1...100).contains($0) }) ?? true
            else { return try await next(request, context) }
            return try await next(Rewrite.query(of: request, "limit=100"), context)
        }
    }

    /// A POST to `path` answered 409 (already taken) answers `created` instead, as if the duplicate were stored.
    static func conflictAnsweredCreated(
        _ name: String,
        service: String,
        path: String,
        checks: [String],
        _ summary: String,
        created: @escaping @Sendable (JSONObject) -> JSON
    ) -> Fault {
        Fault(name, service: service, checks: checks, summary) { request, context, _, next in
            let (bytes, request) = try await Rewrite.body(of: request)
            let response = try await next(request, context)
            guard request.method == .post, request.uri.path == path, response.status == .conflict, case .object(let sent)? = try? JSON.parse(bytes)
            else { return response }
            return Rewrite.jsonResponse(created(sent), status: .created)
        }
    }
}
