/// The life of one client connection of the gateway, request by request, as a plain value: events go in (a head, the
/// end of a body, the end of a response, a half-close, a shutdown, an error) and each returns what the
/// ``GatewayConnectionHandler`` must do. It holds no channel, no exchange and no buffers, so every transition is
/// tested without sockets (as NIO's `HTTPServerPipelineHandler` and postgres-nio's `ConnectionStateMachine` do).
///
/// One request at a time: a pipelined request waits (its bytes stay pending in the handler) until the one before it
/// is answered and its body is read.
struct ConnectionStateMachine {
    /// Who answers the current request.
    enum Responder: Equatable {
        /// Proxied to an upstream by a ``ProxyExchange``.
        case proxy
        /// Passed on to the router behind the handler (the gateway's own endpoints, unknown paths).
        case router
        /// Refused at the edge with an error response (the gateway itself).
        case gateway
    }

    enum State: Equatable {
        /// Waiting for (the rest of) a request head.
        case idle
        /// The request's body is still arriving, and its response has not ended.
        case streamingBody(Responder)
        /// The whole request is read; its response has not ended.
        case awaitingResponse(Responder)
        /// The router's response ended before the request's body: the rest of the body still goes to the router.
        case routerFinishingBody
        /// The gateway answered before the end of the request's body: the rest of the body is read and dropped (up
        /// to the body limit) before the next request.
        case draining
        /// The connection is closing.
        case closing
    }

    /// What to do with the bytes received and not handled yet.
    enum InputAction: Equatable {
        /// Parse a request head.
        case parseHead
        /// Take the current request's body: to the exchange, to the router, or to drop it.
        case takeBody(Responder)
        /// Keep them until the current response has ended.
        case wait
        /// Drop them (the connection is closing).
        case discard
    }

    /// What to do after the end of the current request's body.
    enum BodyEndAction: Equatable {
        case none
        /// Tell the exchange the request ended.
        case endUpstreamRequest
        /// The request and its response are complete: take the next request.
        case takeNextRequest
    }

    /// What to do after the last bytes of a response (an exchange's, or the gateway's own).
    enum ResponseEndAction: Equatable {
        /// Write them, then close the connection.
        case closeAfterWrite
        /// Write them, then take the next request (``requestCompleted()``).
        case takeNextRequest
        /// Write them, then read and drop the rest of the request body (``drainingStarted()``).
        case drain
    }

    /// What to do when the router's response ended.
    enum RouterResponseEndAction: Equatable {
        case none
        /// Take the next request.
        case takeNextRequest
    }

    /// What to do after a request that cannot be read (a malformed head, an unframeable body, a body over the limit).
    enum BadRequestAction: Equatable {
        /// Answer with the error, and close.
        case respondAndClose
        /// Close without an answer (a response has started, or it is not the gateway's to answer).
        case close
    }

    /// What to do on an event the router's side may need to hear of (client half-close, errors, shutdown).
    enum EventAction: Equatable {
        case none
        /// Pass the event on to the router's side.
        case forwardToRouter
        /// Close the connection.
        case close
        /// Cancel the exchange and close the connection.
        case cancelExchangeAndClose
    }

    /// What to do when the connection became inactive.
    enum InactiveAction: Equatable {
        case none
        /// Cancel the exchange; the response was unfinished (the client closed: recorded as 499).
        case cancelExchange(recordClientClosed: Bool)
    }

    /// Whether to read from the client now.
    enum ReadDecision: Equatable {
        case read
        case hold
        /// Read if the exchange can take more request body.
        case ifExchangeWantsBody
    }

    /// Held-back bytes beyond which reading stops while a response is awaited.
    static let pendingLimit = 64 * 1024

    private(set) var state: State = .idle
    /// The connection closes after the current response (a shutdown, a client half-close, a response without a
    /// delimiter).
    private(set) var closesAfterResponse = false
    /// Whether the current request allows the connection to stay open.
    private(set) var isKeepAlive = true
    /// The current request's HTTP minor version (its response uses 1.1, with `Connection: keep-alive` for 1.0).
    private(set) var versionMinor = 1
    /// Whether the current response has ended.
    private(set) var isResponseEnded = true

    /// Whether the connection closes after the current response.
    var mustClose: Bool { !self.isKeepAlive || self.closesAfterResponse }

    /// Whether the current request is proxied (an exchange is in progress).
    var isProxying: Bool {
        switch self.state {
        case .streamingBody(.proxy), .awaitingResponse(.proxy): true
        default: false
        }
    }

    /// Whether the current request is the router's.
    var isDelegated: Bool {
        switch self.state {
        case .streamingBody(.router), .awaitingResponse(.router), .routerFinishingBody: true
        default: false
        }
    }

    // MARK: Requests

    /// What to do with pending bytes in the current state.
    var inputAction: InputAction {
        switch self.state {
        case .idle: .parseHead
        case .streamingBody(let responder): .takeBody(responder)
        case .routerFinishingBody: .takeBody(.router)
        case .draining: .takeBody(.gateway)
        case .awaitingResponse: .wait
        case .closing: .discard
        }
    }

    /// A request head arrived (in ``State/idle``) and `responder` answers it.
    mutating func requestHeadReceived(isKeepAlive: Bool, versionMinor: Int, isBodyComplete: Bool, responder: Responder) {
        self.isKeepAlive = isKeepAlive
        self.versionMinor = versionMinor
        self.isResponseEnded = false
        self.state = isBodyComplete ? .awaitingResponse(responder) : .streamingBody(responder)
    }

    /// The current request's body ended.
    mutating func requestBodyEnded() -> BodyEndAction {
        switch self.state {
        case .streamingBody(.proxy):
            self.state = .awaitingResponse(.proxy)
            return .endUpstreamRequest
        case .streamingBody(.router):
            self.state = .awaitingResponse(.router)
            return .none
        case .routerFinishingBody:
            return self.routerRequestDone()
        case .draining:
            return .takeNextRequest
        case .idle, .streamingBody(.gateway), .awaitingResponse, .closing:
            return .none
        }
    }

    /// The request could not be read: a malformed head (in ``State/idle``) or body.
    /// - Parameter responseStarted: whether a response to it has begun.
    mutating func requestMalformed(responseStarted: Bool) -> BadRequestAction {
        switch self.state {
        case .idle:
            // Nothing is known of the request.
            self.versionMinor = 1
        case .streamingBody(.proxy), .awaitingResponse(.proxy):
            if responseStarted { return .close }
        case .streamingBody, .awaitingResponse, .routerFinishingBody, .draining, .closing:
            return .close
        }
        self.state = .draining
        return .respondAndClose
    }

    /// The proxied request's body outgrew the limit.
    mutating func requestBodyTooLarge(responseStarted: Bool) -> BadRequestAction {
        if responseStarted { return .close }
        self.state = .draining
        return .respondAndClose
    }

    // MARK: Responses

    /// The upstream's response head arrived: returns whether its chunked framing is kept, and the `Connection` field
    /// to send. A body the client cannot delimit (no length, and chunked not possible or not used) ends with the
    /// connection.
    mutating func upstreamResponseHeadReceived(
        hasBody: Bool,
        contentLength: Int?,
        isChunked: Bool
    ) -> (forwardsChunked: Bool, connection: ResponseHead.ConnectionField) {
        let forwardsChunked = isChunked && self.versionMinor >= 1
        if hasBody && contentLength == nil && !forwardsChunked { self.closesAfterResponse = true }
        return (forwardsChunked, self.connectionField(close: self.mustClose))
    }

    /// Whether a response ends with the connection, and the `Connection` field it carries.
    func responseClosing(closeConnection: Bool) -> (close: Bool, connection: ResponseHead.ConnectionField) {
        let close = closeConnection || self.mustClose
        return (close, self.connectionField(close: close))
    }

    private func connectionField(close: Bool) -> ResponseHead.ConnectionField {
        close ? .close : (self.versionMinor == 0 ? .keepAlive : .none)
    }

    /// The last bytes of the current response are about to be written. When it closes, the state is
    /// ``State/closing`` at once; otherwise the handler writes, then calls ``requestCompleted()`` or
    /// ``drainingStarted()``.
    mutating func responseEnded(closeConnection: Bool) -> ResponseEndAction {
        self.isResponseEnded = true
        if closeConnection || self.mustClose {
            self.state = .closing
            return .closeAfterWrite
        }
        if case .awaitingResponse = self.state { return .takeNextRequest }
        return .drain
    }

    /// The router's response to the current request ended.
    mutating func routerResponseEnded() -> RouterResponseEndAction {
        switch self.state {
        case .streamingBody(.router):
            self.isResponseEnded = true
            self.state = .routerFinishingBody
            return .none
        case .awaitingResponse(.router):
            self.isResponseEnded = true
            return self.routerRequestDone() == .takeNextRequest ? .takeNextRequest : .none
        default:
            return .none
        }
    }

    private mutating func routerRequestDone() -> BodyEndAction {
        if self.closesAfterResponse {
            // The router's connection handler closes the connection after this response.
            self.state = .closing
            return .none
        }
        return .takeNextRequest
    }

    /// The request and its response are complete: wait for the next head.
    mutating func requestCompleted() {
        self.state = .idle
    }

    /// The response is out before the end of the request's body: read and drop the rest.
    mutating func drainingStarted() {
        self.state = .draining
    }

    // MARK: Connection events

    /// The handler closes the connection.
    mutating func closing() {
        self.state = .closing
    }

    /// The client half-closed its side: what it sent is all there is. (The router's side must not hear of it while
    /// the fast path answers: it would close the output.)
    mutating func inputClosed() -> EventAction {
        switch self.state {
        case .streamingBody(.router), .awaitingResponse(.router), .routerFinishingBody:
            return .forwardToRouter
        case .awaitingResponse(.proxy):
            self.closesAfterResponse = true
            return .none
        case .streamingBody(.proxy):
            self.state = .closing
            return .cancelExchangeAndClose
        case .awaitingResponse(.gateway):
            self.closesAfterResponse = true
            return .none
        case .idle, .streamingBody(.gateway), .draining:
            self.state = .closing
            return .close
        case .closing:
            return .none
        }
    }

    /// A graceful shutdown began: an idle connection closes at once (unless a request has begun to arrive), a busy
    /// one after its response.
    mutating func shouldQuiesce(hasPendingBytes: Bool) -> EventAction {
        switch self.state {
        case .idle:
            if hasPendingBytes {
                self.closesAfterResponse = true
                return .none
            }
            self.state = .closing
            return .close
        case .streamingBody(.router), .awaitingResponse(.router), .routerFinishingBody:
            // The router's connection handler closes after its response.
            self.closesAfterResponse = true
            return .forwardToRouter
        case .streamingBody, .awaitingResponse, .draining:
            self.closesAfterResponse = true
            return .none
        case .closing:
            return .none
        }
    }

    /// An error reached the handler.
    mutating func errorCaught() -> EventAction {
        switch self.state {
        case .streamingBody(.router), .awaitingResponse(.router), .routerFinishingBody:
            return .forwardToRouter
        case .streamingBody(.proxy), .awaitingResponse(.proxy):
            self.state = .closing
            return .cancelExchangeAndClose
        case .idle, .streamingBody(.gateway), .awaitingResponse(.gateway), .draining, .closing:
            self.state = .closing
            return .close
        }
    }

    /// The connection is gone.
    mutating func channelInactive() -> InactiveAction {
        let action: InactiveAction = self.isProxying ? .cancelExchange(recordClientClosed: !self.isResponseEnded) : .none
        self.state = .closing
        return action
    }

    // MARK: Reading

    /// Whether to read from the client. Reading continues after a request's end (so that a closed connection is
    /// noticed, and without changing the socket's interest set for every request) until some pipelined bytes are
    /// pending; a request body is read only as fast as the upstream takes it.
    func readDecision(pendingBytes: Int) -> ReadDecision {
        switch self.state {
        case .idle, .draining, .streamingBody(.gateway), .awaitingResponse(.gateway), .streamingBody(.router), .routerFinishingBody:
            return .read
        case .streamingBody(.proxy):
            return .ifExchangeWantsBody
        case .awaitingResponse(.proxy), .awaitingResponse(.router):
            return pendingBytes < Self.pendingLimit ? .read : .hold
        case .closing:
            return .hold
        }
    }
}
