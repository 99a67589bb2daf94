import NIOCore
import NIOHTTP1

/// One active readiness check: a fresh connection, `GET path` with `Connection: close`; healthy on a 2xx answer
/// within the timeout.
enum HealthProbe {
    static func check(_ endpoint: ReplicaEndpoint, path: String, timeout: TimeAmount, pool: ConnectionPool) -> EventLoopFuture<Bool> {
        let eventLoop = pool.eventLoop
        let promise = eventLoop.makePromise(of: Bool.self)
        pool.connect(to: endpoint).assumeIsolated().whenComplete { result in
            guard case .success(let connection) = result else { return promise.succeed(false) }
            let probe = ProbeDelegate(connection: connection, promise: promise)
            connection.handler.delegate = probe
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: endpoint.authority)
            headers.add(name: "User-Agent", value: "bookstore-gateway-health")
            headers.add(name: "Connection", value: "close")
            connection.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.basePath + path, headers: headers)))
            connection.write(.end(nil))
            connection.flush()
            eventLoop.assumeIsolated().scheduleTask(in: timeout) { probe.finish(healthy: false) }
        }
        return promise.futureResult
    }

    private final class ProbeDelegate: UpstreamConnectionDelegate {
        let connection: UpstreamConnection
        let promise: EventLoopPromise<Bool>
        var status: UInt = 0
        var isDone = false

        init(connection: UpstreamConnection, promise: EventLoopPromise<Bool>) {
            self.connection = connection
            self.promise = promise
        }

        func finish(healthy: Bool) {
            guard !self.isDone else { return }
            self.isDone = true
            self.connection.handler.delegate = nil
            self.connection.close()
            self.promise.succeed(healthy)
        }

        func upstreamReceived(_ part: HTTPClientResponsePart) {
            switch part {
            case .head(let head): self.status = head.status.code
            case .body: break
            case .end: self.finish(healthy: (200..<300).contains(self.status))
            }
        }

        func upstreamReadComplete() {}
        func upstreamWritabilityChanged(isWritable: Bool) {}
        func upstreamClosed(error: (any Error)?) { self.finish(healthy: false) }
    }
}
