import BookstoreCore
import HTTPTypes
import NIOCore
import NIOHTTP1

/// A request ready to be forwarded: the head to send upstream (path rewritten, headers filtered, forwarding headers
/// added), where to send it, and what the proxy may do with it.
struct ProxyRequest {
    var head: HTTPRequestHead
    let upstream: Upstream
    let requestID: String
    let responseTimeout: TimeAmount
    /// Whether a body follows the head (`Content-Length` > 0 or chunked).
    let hasBody: Bool
    /// Whether the request may be sent again after it may have reached a replica: idempotent methods
    /// (GET, HEAD, OPTIONS, PUT, DELETE) and requests with an `Idempotency-Key`.
    let isIdempotent: Bool
    /// `Access-Control-Allow-Origin` for the response, when the request carried an `Origin`.
    let allowOrigin: String?
    /// The client's HTTP version (the response uses it).
    let clientVersion: HTTPVersion
}

/// The fixed parameters of every exchange.
struct ExchangeSettings: Sendable {
    var maxAttempts: Int
    var backoff: RetryPolicy
    /// Bodies up to this many bytes are kept so that the request can be sent again.
    var replayableBodyLimit: Int
}

/// Receives an exchange's response, on the exchange's event loop.
protocol ProxyExchangeDelegate: AnyObject {
    func exchangeDidReceiveHead(_ head: HTTPResponseHead)
    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer)
    /// The end of a batch of reads from the upstream: a good moment to flush.
    func exchangeShouldFlush()
    func exchangeDidFinish(trailers: HTTPHeaders?)
    /// The exchange failed. Before the response head went out, `error` is the response to send; after, the response
    /// must be cut off (close the connection).
    func exchangeDidFail(_ error: APIError, responseStarted: Bool)
    /// The exchange can take more request body now.
    func exchangeWantsRequestBody()
}

/// Forwards one request to its upstream and streams the response back: chooses a replica, takes a pooled
/// connection (or opens one), applies the response timeout, and retries on another replica when that is safe —
/// connection failures always; resets and 502/503/504 only for idempotent requests whose body (if any) was kept —
/// within the attempt limit and the upstream's retry budget, after an exponential backoff with jitter.
///
/// Event-loop bound: every method runs on `pool.eventLoop`; it never blocks and never crosses threads.
final class ProxyExchange: UpstreamConnectionDelegate {
    private enum State {
        case idle
        case connecting(ReplicaEndpoint)
        case waitingToRetry
        case active(UpstreamConnection)
        case finished
    }

    private var state: State = .idle
    private var request: ProxyRequest
    private let pool: ConnectionPool
    private let settings: ExchangeSettings
    private var delegate: (any ProxyExchangeDelegate)?

    private var attempts = 0
    private var tried: [ReplicaEndpoint] = []
    private var endpoint: ReplicaEndpoint?
    private var sentAuthority: String?

    // Request body: parts not yet written to the current connection, or every part while the body is kept for a retry.
    private var bodyParts: [ByteBuffer] = []
    private var bodyPartsSent = 0
    private var bodyBytes = 0
    private var keepsBody: Bool
    private(set) var isRequestComplete: Bool
    private var isRequestFullySent = false

    // Response.
    private(set) var isResponseStarted = false
    private var responseStatus: UInt = 0
    private var upstreamKeepAlive = true
    private var isDownstreamWritable = true

    // Response timeout (checked by the pool's sweep) and the retry backoff timer.
    private var retryTimer: NIOScheduledCallback?
    private var lastActivity: NIODeadline = .now()
    /// The position in the pool's list of watched exchanges (-1: not watched).
    var watchIndex = -1
    private var generator: SeededGenerator

    init(request: ProxyRequest, pool: ConnectionPool, settings: ExchangeSettings, delegate: any ProxyExchangeDelegate, seed: UInt64) {
        self.request = request
        self.pool = pool
        self.settings = settings
        self.delegate = delegate
        self.keepsBody = request.hasBody && request.isIdempotent && settings.maxAttempts > 1
        self.isRequestComplete = !request.hasBody
        self.generator = SeededGenerator(seed: seed)
    }

    var eventLoop: any EventLoop { self.pool.eventLoop }
    var requestID: String { self.request.requestID }
    var allowOrigin: String? { self.request.allowOrigin }

    /// Whether the front end should read more request body now.
    var wantsRequestBody: Bool {
        guard !self.isRequestComplete else { return false }
        switch self.state {
        case .active(let connection): return connection.isWritable
        case .idle, .connecting, .waitingToRetry, .finished: return false
        }
    }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    // MARK: Input from the front end

    func start() {
        self.request.upstream.recordRequest()
        self.startAttempt()
    }

    func receiveRequestBodyPart(_ buffer: ByteBuffer) {
        if case .finished = self.state { return }
        self.bodyBytes += buffer.readableBytes
        if self.keepsBody && self.bodyBytes > self.settings.replayableBodyLimit {
            // Too large to keep for a retry: from now on parts are dropped once written.
            self.keepsBody = false
            self.bodyParts.removeFirst(self.bodyPartsSent)
            self.bodyPartsSent = 0
        }
        self.bodyParts.append(buffer)
        if case .active(let connection) = self.state {
            self.writePendingBody(to: connection)
            connection.flush()
        }
    }

    func receiveRequestEnd() {
        if case .finished = self.state { return }
        self.isRequestComplete = true
        if case .active(let connection) = self.state {
            self.writePendingBody(to: connection)
            connection.write(.end(nil))
            self.isRequestFullySent = true
            connection.flush()
        }
    }

    /// The client connection became (un)writable: stop or resume reading the upstream response.
    func downstreamWritabilityChanged(isWritable: Bool) {
        self.isDownstreamWritable = isWritable
        guard case .active(let connection) = self.state else { return }
        if isWritable {
            self.lastActivity = .now()
            connection.resumeReading()
        } else {
            connection.pauseReading()
        }
    }

    /// The client went away or the request was cut short: abandon the exchange without telling the delegate.
    func cancel() {
        switch self.state {
        case .active(let connection):
            connection.handler.delegate = nil
            connection.close()
            self.endAttempt(.cancelled)
        case .connecting:
            self.endAttempt(.cancelled)
        case .waitingToRetry, .idle, .finished:
            break
        }
        self.stopTimers()
        self.state = .finished
        self.delegate = nil
    }

    // MARK: Attempts

    private func startAttempt() {
        let upstream = self.request.upstream
        guard let endpoint = upstream.choose(excluding: self.tried) else {
            return self.fail(APIError(status: .serviceUnavailable, message: "No healthy replica of \(upstream.name) is available"))
        }
        guard upstream.breaker.acquire() else {
            upstream.finish(endpoint, outcome: .cancelled, heldBreakerPermit: false)
            return self.fail(APIError(status: .serviceUnavailable, message: "Upstream \(upstream.name) is unavailable (circuit open)"))
        }
        self.attempts += 1
        self.endpoint = endpoint
        self.isRequestFullySent = false
        self.upstreamKeepAlive = true
        self.bodyPartsSent = 0
        if let connection = self.pool.takeIdle(to: endpoint) {
            self.attach(connection)
        } else {
            self.state = .connecting(endpoint)
            self.pool.connect(to: endpoint).assumeIsolated().whenComplete { result in
                self.connected(result, to: endpoint)
            }
        }
    }

    private func connected(_ result: Result<UpstreamConnection, any Error>, to endpoint: ReplicaEndpoint) {
        guard case .connecting(let current) = self.state, current === endpoint else {
            // Cancelled meanwhile: an unused new connection is as good as any for the pool.
            if case .success(let connection) = result { self.pool.release(connection) }
            return
        }
        switch result {
        case .success(let connection):
            self.attach(connection)
        case .failure:
            self.state = .idle
            self.attemptFailed(.connectFailure)
        }
    }

    private func attach(_ connection: UpstreamConnection) {
        self.state = .active(connection)
        connection.handler.delegate = self
        if !self.isDownstreamWritable { connection.pauseReading() }
        let endpoint = connection.endpoint
        if self.sentAuthority != endpoint.authority {
            self.request.head.headers.replaceOrAdd(name: "Host", value: endpoint.authority)
            self.sentAuthority = endpoint.authority
        }
        if endpoint.basePath.isEmpty {
            connection.write(.head(self.request.head))
        } else {
            var head = self.request.head
            head.uri = endpoint.basePath + head.uri
            connection.write(.head(head))
        }
        self.writePendingBody(to: connection)
        if self.isRequestComplete {
            connection.write(.end(nil))
            self.isRequestFullySent = true
        }
        connection.flush()
        self.armTimer()
        if !self.isRequestComplete && connection.isWritable { self.delegate?.exchangeWantsRequestBody() }
    }

    private func writePendingBody(to connection: UpstreamConnection) {
        guard self.bodyPartsSent < self.bodyParts.count else { return }
        for index in self.bodyPartsSent..<self.bodyParts.count {
            connection.write(.body(.byteBuffer(self.bodyParts[index])))
        }
        self.lastActivity = .now()
        if self.keepsBody {
            self.bodyPartsSent = self.bodyParts.count
        } else {
            self.bodyParts.removeAll(keepingCapacity: true)
            self.bodyPartsSent = 0
        }
    }

    /// Ends the current attempt: the connection goes back to the pool (`reuse`) or is closed; the upstream records
    /// the outcome.
    private func endAttempt(_ outcome: UpstreamOutcome, reuse: Bool = false) {
        self.pool.unwatch(self)
        if case .active(let connection) = self.state {
            connection.handler.delegate = nil
            if reuse {
                self.pool.release(connection)
            } else {
                connection.close()
            }
        }
        if let endpoint = self.endpoint {
            self.request.upstream.finish(endpoint, outcome: outcome, heldBreakerPermit: true)
            self.endpoint = nil
        }
        self.state = .idle
    }

    private func attemptFailed(_ outcome: UpstreamOutcome) {
        let endpoint = self.endpoint
        self.endAttempt(outcome)
        if self.mayRetry(after: outcome) {
            if let endpoint { self.tried.append(endpoint) }
            self.state = .waitingToRetry
            self.scheduleRetry()
        } else {
            self.fail(Self.error(for: outcome, upstream: self.request.upstream.name))
        }
    }

    /// Whether another attempt is allowed after `outcome` (and takes it from the retry budget).
    private func mayRetry(after outcome: UpstreamOutcome) -> Bool {
        guard self.attempts < self.settings.maxAttempts else { return false }
        switch outcome {
        case .connectFailure:
            // Nothing reached the replica; the body parts were not written (or were kept).
            break
        case .reset, .serverError:
            guard self.request.isIdempotent, !self.request.hasBody || self.keepsBody else { return false }
        case .success, .timeout, .cancelled:
            return false
        }
        return self.request.upstream.tryRetry()
    }

    static func error(for outcome: UpstreamOutcome, upstream: String) -> APIError {
        switch outcome {
        case .connectFailure: APIError(status: .serviceUnavailable, message: "No replica of \(upstream) is reachable")
        case .timeout: APIError(status: .gatewayTimeout, message: "Upstream \(upstream) timed out")
        case .success, .serverError, .reset, .cancelled: APIError(status: .badGateway, message: "Upstream \(upstream) failed")
        }
    }

    private func fail(_ error: APIError) {
        self.stopTimers()
        self.state = .finished
        let delegate = self.delegate
        self.delegate = nil
        delegate?.exchangeDidFail(error, responseStarted: self.isResponseStarted)
    }

    // MARK: UpstreamConnectionDelegate

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        switch part {
        case .head(let head):
            let code = head.status.code
            if code < 200 { return }  // 100 Continue and other interim responses are not forwarded
            self.upstreamKeepAlive = head.isKeepAlive
            if code == 502 || code == 503 || code == 504, self.mayRetry(after: .serverError) {
                // Drop this response and try another replica.
                let endpoint = self.endpoint
                self.endAttempt(.serverError)
                if let endpoint { self.tried.append(endpoint) }
                self.state = .waitingToRetry
                self.scheduleRetry()
                return
            }
            self.responseStatus = code
            self.isResponseStarted = true
            self.delegate?.exchangeDidReceiveHead(self.responseHead(from: head))
        case .body(let buffer):
            self.delegate?.exchangeDidReceiveBodyPart(buffer)
        case .end(let trailers):
            guard case .active = self.state else { return }
            self.endAttempt(self.responseStatus >= 500 ? .serverError : .success, reuse: self.upstreamKeepAlive && self.isRequestFullySent)
            self.state = .finished
            let delegate = self.delegate
            self.delegate = nil
            delegate?.exchangeDidFinish(trailers: trailers)
        }
    }

    func upstreamReadComplete() {
        self.lastActivity = .now()
        if self.isResponseStarted { self.delegate?.exchangeShouldFlush() }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable && !self.isRequestComplete { self.delegate?.exchangeWantsRequestBody() }
    }

    func upstreamClosed(error: (any Error)?) {
        guard case .active = self.state else { return }
        self.state = .idle  // the connection is gone; nothing to close or pool
        if self.isResponseStarted {
            if let endpoint = self.endpoint {
                self.request.upstream.finish(endpoint, outcome: .reset, heldBreakerPermit: true)
                self.endpoint = nil
            }
            self.fail(APIError(status: .badGateway, message: "Upstream \(self.request.upstream.name) closed the connection"))
        } else {
            self.attemptFailed(.reset)
        }
    }

    // MARK: Response head

    private func responseHead(from upstream: HTTPResponseHead) -> HTTPResponseHead {
        let listed = HeaderRules.connectionListedNames(upstream.headers)
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.headers.count + 4)
        for (name, value) in upstream.headers {
            guard case .keep = HeaderRules.responseDisposition(name), !HeaderRules.isListed(name, in: listed) else { continue }
            headers.add(name: name, value: value)
        }
        headers.add(name: "X-Request-ID", value: self.request.requestID)
        headers.add(name: "X-Gateway-Service", value: "bookstore-gateway")
        if let origin = self.request.allowOrigin {
            headers.replaceOrAdd(name: "Access-Control-Allow-Origin", value: origin)
            if origin != "*" { headers.add(name: "Vary", value: "Origin") }
        }
        return HTTPResponseHead(version: self.request.clientVersion, status: upstream.status, headers: headers)
    }

    // MARK: Timers

    private func armTimer() {
        self.lastActivity = .now()
        self.pool.watch(self)
    }

    private func scheduleRetry() {
        let delay = self.settings.backoff.delay(afterAttempt: self.attempts, using: &self.generator)
        self.retryTimer = try? self.eventLoop.assumeIsolated().scheduleCallback(in: TimeAmount(delay), handler: RetryTimer(exchange: self))
    }

    private func stopTimers() {
        self.pool.unwatch(self)
        if let timer = self.retryTimer {
            self.retryTimer = nil
            timer.cancel()
        }
    }

    fileprivate func retryTimerFired() {
        self.retryTimer = nil
        guard case .waitingToRetry = self.state else { return }
        self.startAttempt()
    }

    /// Whether no response byte came within the response timeout (not counting time the client was not reading).
    func isTimedOut(at now: NIODeadline) -> Bool {
        guard case .active = self.state, self.isDownstreamWritable else { return false }
        return now - self.lastActivity >= self.request.responseTimeout
    }

    /// Called by the pool's sweep when ``isTimedOut(at:)``.
    func responseTimedOut() {
        guard case .active = self.state else { return }
        self.endAttempt(.timeout)
        self.fail(APIError(status: .gatewayTimeout, message: "Upstream \(self.request.upstream.name) timed out"))
    }
}

private struct RetryTimer: NIOScheduledCallbackHandler {
    let exchange: ProxyExchange

    func handleScheduledCallback(eventLoop: some EventLoop) {
        self.exchange.retryTimerFired()
    }
}
