import Hummingbird

/// A seam for test harnesses: middleware placed outside every service's own stack (before the observability
/// middleware, so it sees requests as sent and responses in their final envelope). The planted-defect harness
/// (`bookstore-faults`, a test-only executable) sets it for the task that builds the services; production code never
/// does, so it is nil and nothing is added.
public enum MiddlewareSeam {
    public typealias Provider = @Sendable (_ serviceName: String) -> (any MiddlewareProtocol<Request, Response, BookstoreRequestContext>)?

    @TaskLocal public static var outermost: Provider?
}
