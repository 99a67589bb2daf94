import HTTPWire
import NIOCore

/// One active readiness check: a fresh connection, `GET path` with `Connection: close`; healthy on a 2xx answer
/// within the timeout.
enum HealthProbe {
    static func check(_ endpoint: ReplicaEndpoint, path: String, timeout: TimeAmount, pool: ConnectionPool) -> EventLoopFuture<Bool> {
        let eventLoop = pool.eventLoop
        let promise = eventLoop.makePromise(of: Bool.self)
        pool.connect(to: endpoint).assumeIsolated().whenComplete { result in
            guard case .success(let connection) = result else { return promise.succeed(false) }
            let probe = ProbeDelegate(connection: connection, promise: promise)
            connection.reset()
            connection.delegate = probe
            connection.decodesBody = true
            var request = ByteBuffer()
            request.writeStaticString("GET ")
            request.writeString(endpoint.basePath + path)
            request.writeStaticString(" HTTP/1.1\r\nHost: ")
            request.writeString(endpoint.authority)
            request.writeStaticString("\r\nUser-Agent: bookstore-gateway-health\r\nConnection: close\r\n\r\n")
            connection.write(request)
            connection.flush()
            eventLoop.assumeIsolated().scheduleTask(in: timeout) { probe.finish(healthy: false) }
        }
        return promise.futureResult
    }

    private final class ProbeDelegate: UpstreamConnectionDelegate {
        let connection: UpstreamConnection
        let promise: EventLoopPromise<Bool>
        var status = 0
        var isDone = false

        init(connection: UpstreamConnection, promise: EventLoopPromise<Bool>) {
            self.connection = connection
            self.promise = promise
        }

        func finish(healthy: Bool) {
            guard !self.isDone else { return }
            self.isDone = true
            self.connection.delegate = nil
            self.connection.close()
            self.promise.succeed(healthy)
        }

        func upstreamReceivedHead(_ head: MessageHead) { self.status = head.status }
        func upstreamReceivedBody(_ buffer: ByteBuffer) {}
        func upstreamReceivedEnd() { self.finish(healthy: (200..<300).contains(self.status)) }
        func upstreamReadComplete() {}
        func upstreamWritabilityChanged(isWritable: Bool) {}
        func upstreamClosed(error: (any Error)?) { self.finish(healthy: false) }
    }
}
