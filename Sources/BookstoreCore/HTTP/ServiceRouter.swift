import HTTPTypes
import Hummingbird

/// A service's router: Hummingbird's `Router`, which also records every route's path template and method so that a
/// method a known path does not serve answers 405 with an `Allow` header (RFC 9110 §15.5.6) instead of 404.
public final class ServiceRouter: RouterMethods, HTTPResponderBuilder {
    public typealias Context = BookstoreRequestContext

    let router: Router<BookstoreRequestContext>
    /// The templates and methods registered so far; the observability middleware reads it for unmatched requests.
    public let methods: RouteMethods

    public init() {
        self.router = Router(context: BookstoreRequestContext.self)
        self.methods = RouteMethods()
    }

    @discardableResult
    public func on<Responder: HTTPResponder>(
        _ path: RouterPath,
        method: HTTPRequest.Method,
        responder: Responder
    ) -> Self where Responder.Context == BookstoreRequestContext {
        self.methods.add(path, method: method)
        self.router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    public func add(middleware: any MiddlewareProtocol<Request, Response, BookstoreRequestContext>) -> Self {
        self.router.add(middleware: middleware)
        return self
    }

    public func buildResponder() -> RouterResponder<BookstoreRequestContext> {
        self.router.buildResponder()
    }
}
