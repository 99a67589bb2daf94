import AsyncHTTPClient
import NIOCore

/// The harness's HTTP client: no redirects followed (a redirect is something checks must see), no decompression,
/// short connect timeout. It lives for the whole process; every request carries its own deadline.
public enum ConformanceHTTP {
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(3), read: .seconds(60)))
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.connectionPool = .init(idleTimeout: .seconds(10))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
