import ConformanceKit
import Foundation
import Hummingbird
import JSONKit

/// Runs in-process fakes (Hummingbird routers) on 127.0.0.1 for the harness's own tests.
enum FakeServer {
    /// Serves `router` on a free port while `body` runs with its base URL. A port taken between choosing and binding
    /// it (tests run in parallel) is retried with another, at most five times.
    static func with<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> T) async throws -> T {
        // Hummingbird reads its log level from the environment; keep the fakes quiet.
        setenv("LOG_LEVEL", "critical", 1)
        for _ in 0..<5 {
            let port = try FreePort.allocate(1)[0]
            let (started, continuation) = AsyncStream<Bool>.makeStream()
            let application = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: port)),
                onServerRunning: { _ in continuation.yield(true) }
            )
            let result = try await withThrowingTaskGroup(of: T?.self) { group -> T? in
                group.addTask {
                    // A server that cannot bind ends the start signal without a value.
                    defer { continuation.finish() }
                    try? await application.runService(gracefulShutdownSignals: [])
                    return nil
                }
                var running = false
                for await signal in started {
                    running = signal
                    break
                }
                guard running else {
                    group.cancelAll()
                    return nil
                }
                let result = try await body("http://127.0.0.1:\(port)")
                group.cancelAll()
                return result
            }
            if let result { return result }
        }
        throw FakeServerError()
    }
}

struct FakeServerError: Error, CustomStringConvertible {
    var description: String { "no fake server could bind a free port in five attempts" }
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
