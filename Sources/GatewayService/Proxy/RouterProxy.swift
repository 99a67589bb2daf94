import BookstoreCore
import HTTPTypes
import HTTPWire
import Hummingbird
import NIOCore

/// The proxy as a router handler: the same planner and exchanges as the fast path, bridged to async/await. It serves
/// proxied routes whenever a request does not come through ``GatewayConnectionHandler`` — the in-process test client
/// (`application.test(.router)`), and requests pipelined behind one the router answers. The request body is streamed
/// with backpressure, and so is the response body.
struct RouterProxy: Sendable {
    let proxy: GatewayProxy
    let eventLoopGroup: any EventLoopGroup

    func handle(_ request: Request, context: BookstoreRequestContext) async throws -> Response {
        // The same planner as the fast path, on the request's head written out as bytes. The body arrives decoded:
        // with a known length it is sent as is, otherwise chunked.
        var bytes = ByteBuffer()
        bytes.writeString(request.method.rawValue)
        bytes.writeStaticString(" ")
        bytes.writeString(request.head.path ?? "/")
        bytes.writeStaticString(" HTTP/1.1\r\n")
        if let authority = request.head.authority {
            bytes.writeStaticString("Host: ")
            bytes.writeString(authority)
            bytes.writeStaticString("\r\n")
        }
        let hasLength = request.headers[.contentLength] != nil
        let encodesChunks = !hasLength && request.headers[.transferEncoding] != nil
        for field in request.headers where field.name != .requestID && field.name != .transferEncoding {
            bytes.writeString(field.name.rawName)
            bytes.writeStaticString(": ")
            bytes.writeString(field.value)
            bytes.writeStaticString("\r\n")
        }
        if encodesChunks { bytes.writeStaticString("Transfer-Encoding: chunked\r\n") }
        bytes.writeStaticString("X-Request-ID: ")
        bytes.writeString(context.requestID)
        bytes.writeStaticString("\r\n\r\n")
        let head: MessageHead
        do {
            head = try MessageHead.parseHead(bytes, isRequest: true)
        } catch {
            throw APIError.badRequest("Malformed HTTP request")
        }
        var requestIDs = RequestIDGenerator()
        let plan = self.proxy.planner.plan(head, clientAddress: context.remoteAddress ?? "unknown", requestIDs: &requestIDs)
        let proxyRequest: ProxyRequest
        switch plan {
        case .reject(let error, _, _, _): throw error
        case .forward(let forwarded, _, _): proxyRequest = forwarded
        }

        let eventLoop = self.eventLoopGroup.any()
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: RouterBridge.self, eventLoop: eventLoop)
        let producer = NIOThrowingAsyncSequenceProducer.makeSequence(
            elementType: ByteBuffer.self,
            backPressureStrategy: NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark(lowWatermark: 2, highWatermark: 16),
            finishOnDeinit: true,
            delegate: RouterBridge.ProducerDelegate(eventLoop: eventLoop, box: box)
        )
        let source = producer.source
        let proxy = self.proxy
        try await eventLoop.submit {
            let bridge = RouterBridge(source: source, eventLoop: eventLoop)
            let pool = proxy.pools.pool(for: eventLoop)
            let exchange = ProxyExchange(
                request: proxyRequest,
                pool: pool,
                settings: proxy.settings,
                delegate: bridge,
                seed: UInt64.random(in: 0...UInt64.max),
                decodesResponse: true,
                encodesRequestChunks: encodesChunks
            )
            bridge.exchange = exchange
            box.value = bridge
            exchange.start()
        }.get()

        // Stream the request body to the exchange, as fast as it takes it. Its end is reported only after the whole
        // body: when the exchange stops taking it (an early answer), the rest is not sent, and the upstream connection
        // (left with part of a body) is closed after the response instead of pooled.
        if proxyRequest.hasBody {
            var received = 0
            var isComplete = true
            for try await chunk in request.body {
                received += chunk.readableBytes
                if received > proxy.planner.maxBodyBytes {
                    eventLoop.execute { box.value?.exchange?.cancel() }
                    throw APIError.payloadTooLarge(limit: proxy.planner.maxBodyBytes)
                }
                let wanted = try await eventLoop.flatSubmit { () -> EventLoopFuture<Bool> in
                    guard let bridge = box.value else { return eventLoop.makeSucceededFuture(false) }
                    return bridge.send(chunk)
                }.get()
                if !wanted {
                    isComplete = false
                    break
                }
            }
            if isComplete { eventLoop.execute { box.value?.exchange?.receiveRequestEnd() } }
        }

        let responseHead = try await eventLoop.flatSubmit { () -> EventLoopFuture<RouterBridge.Head> in
            guard let bridge = box.value else { return eventLoop.makeFailedFuture(APIError.unexpected) }
            return bridge.responseHead()
        }.get()
        var headers = HTTPFields()
        for (name, value) in responseHead.fields {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        let sequence = producer.sequence
        return Response(
            status: HTTPResponse.Status(code: responseHead.status, reasonPhrase: responseHead.reason),
            headers: headers,
            body: ResponseBody { writer in
                for try await buffer in sequence { try await writer.write(buffer) }
                try await writer.finish(nil)
            }
        )
    }
}
