import ConformanceKit
import Foundation
import Hummingbird
import JSONKit

/// Runs in-process fakes (Hummingbird routers) on 127.0.0.1 for the harness's own tests.
enum FakeServer {
    /// Serves `router` on a free port while `body` runs with its base URL.
    static func with<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> T) async throws -> T {
        // Hummingbird reads its log level from the environment; keep the fakes quiet.
        setenv("LOG_LEVEL", "critical", 1)
        let port = try FreePort.allocate(1)[0]
        let (started, continuation) = AsyncStream<Void>.makeStream()
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { _ in continuation.yield() }
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await application.runService(gracefulShutdownSignals: [])
                return nil
            }
            for await _ in started { break }
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        }
    }
}

extension Response {
    /// A JSON response that carries the gateway's headers, as every answer through the gateway must.
    static func json(_ value: JSON, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [
            .contentType: "application/json", .init("X-Gateway-Service")!: "bookstore-gateway", .init("X-Request-ID")!: "fake-request-id",
        ]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.bytes)))
    }
}

extension Request {
    /// The body as bytes (at most 4 MiB).
    func bytes() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in self.body {
            bytes += buffer.readableBytesView
            if bytes.count > 4 << 20 { break }
        }
        return bytes
    }

    /// The body as JSON, or nil.
    func json() async throws -> JSON? {
        try? JSON.parse(try await self.bytes())
    }

    var bearerToken: String? {
        guard let value = self.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
        return String(value.dropFirst("Bearer ".count))
    }
}
