import BookstoreCore
import Hummingbird

/// One planted defect: what it breaks, where (a service's HTTP seam), and the conformance checks that must fail
/// when it is present. `ci/mutation-score` counts a fault as caught only when one of `checks` fails.
public struct Fault: Sendable {
    /// A stable name, e.g. `reviews-rating-as-string`.
    public let name: String
    /// The `SERVICE_NAME` of the service it is planted in (`review-service`, …).
    public let service: String
    /// The check IDs of which at least one must fail.
    public let checks: [String]
    public let summary: String
    let handle: @Sendable (Request, BookstoreRequestContext, FaultContext, Next) async throws -> Response

    public typealias Next = (Request, BookstoreRequestContext) async throws -> Response

    public init(
        _ name: String,
        service: String,
        checks: [String],
        _ summary: String,
        handle: @escaping @Sendable (Request, BookstoreRequestContext, FaultContext, Next) async throws -> Response
    ) {
        self.name = name
        self.service = service
        self.checks = checks
        self.summary = summary
        self.handle = handle
    }

    /// The seam provider that plants this fault in its service and leaves every other service alone.
    public func provider(tokens: TokenService) -> MiddlewareSeam.Provider {
        let fault = self
        return { serviceName in
            serviceName == fault.service ? FaultMiddleware(fault: fault, context: FaultContext(tokens: tokens)) : nil
        }
    }
}

/// What a fault may use besides the request: the system's token service (to mint tokens a defective service would
/// accept).
public struct FaultContext: Sendable {
    public let tokens: TokenService
}

/// The middleware a fault runs as, outside the service's own stack.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = BookstoreRequestContext
    let fault: Fault
    let context: FaultContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await self.fault.handle(request, context, self.context, next)
    }
}
