import BookstoreCore
import HTTPTypes
import HTTPWire
import NIOCore

/// Forwards one request to its upstream and streams the response back: chooses a replica, takes a pooled
/// connection (or opens one), applies the response timeout, and retries on another replica when that is safe —
/// connection failures always; resets and 502/503/504 only for idempotent requests whose body (if any) was kept —
/// within the attempt limit and the upstream's retry budget, after an exponential backoff with jitter. A body is
/// never sent again without its start: once a part of it was written and dropped (the body outgrew the retry
/// buffer), the request has no further attempt. A connection goes back to the pool only after a complete response
/// to a completely written request.
///
/// Event-loop bound: every method runs on `pool.eventLoop`; it never blocks and never crosses threads.
///
/// Its stored properties of trivial types (flags, counters, times, reference-free state machines) are
/// `@exclusivity(unchecked)`: the hot path reads and sets them many times per request, and the run-time exclusivity
/// check is a call each time. It can be skipped for them because an overlapping access could not corrupt memory (they
/// hold no references) and nothing calls out while one of them is being modified in place (their types' mutating
/// methods are pure). Properties holding references keep the check.
final class ProxyExchange: UpstreamConnectionDelegate {
    private enum State {
        case idle
        case connecting(ReplicaEndpoint)
        case waitingToRetry
        case active(UpstreamConnection)
        case finished
    }

    private var state: State = .idle
    private let request: ProxyRequest
    private let pool: ConnectionPool
    private let settings: ExchangeSettings
    private var delegate: (any ProxyExchangeDelegate)?
    /// Whether response bodies are handed over decoded (chunk data only) rather than as received.
    private let decodesResponse: Bool
    /// Whether request body parts arrive decoded and must be sent chunked (the router fallback).
    private let encodesRequestChunks: Bool

    @exclusivity(unchecked) private var attempts = 0
    private var tried: [ReplicaEndpoint] = []
    private var endpoint: ReplicaEndpoint?
    @exclusivity(unchecked) private var attemptStartedAt: NIODeadline = .now()
    /// The last attempt failed and was let off the breaker as retried; no other attempt has started yet.
    @exclusivity(unchecked) private var breakerFailurePending = false

    // Request body: parts not yet written to the current connection, or every part while the body is kept for a retry.
    private var bodyParts: [ByteBuffer] = []
    @exclusivity(unchecked) private var bodyPartsSent = 0
    @exclusivity(unchecked) private var bodyBytes = 0
    @exclusivity(unchecked) private var keepsBody: Bool
    /// Whether body parts were dropped after being written (the body outgrew the retry buffer): it cannot be sent
    /// again from its start.
    @exclusivity(unchecked) private var hasDroppedBody = false
    @exclusivity(unchecked) private(set) var isRequestComplete: Bool
    @exclusivity(unchecked) private var isRequestFullySent = false

    // Response.
    @exclusivity(unchecked) private(set) var isResponseStarted = false
    @exclusivity(unchecked) private var responseStatus = 0
    @exclusivity(unchecked) private var isDownstreamWritable = true

    // Response timeout (checked by the pool's sweep) and the retry backoff timer.
    private var retryTimer: NIOScheduledCallback?
    @exclusivity(unchecked) private var lastActivity: NIODeadline = .now()
    /// When the response ended (set before ``ProxyExchangeDelegate/exchangeDidFinish()``).
    @exclusivity(unchecked) private(set) var finishedAt: NIODeadline?
    /// The position in the pool's list of watched exchanges (-1: not watched).
    @exclusivity(unchecked) var watchIndex = -1
    @exclusivity(unchecked) private var generator: SeededGenerator

    init(
        request: ProxyRequest,
        pool: ConnectionPool,
        settings: ExchangeSettings,
        delegate: any ProxyExchangeDelegate,
        seed: UInt64,
        decodesResponse: Bool = false,
        encodesRequestChunks: Bool = false
    ) {
        self.request = request
        self.pool = pool
        self.settings = settings
        self.delegate = delegate
        self.decodesResponse = decodesResponse
        self.encodesRequestChunks = encodesRequestChunks
        self.keepsBody = request.hasBody && (request.isIdempotent || settings.resendsEveryFailedRequest) && settings.maxAttempts > 1
        self.isRequestComplete = !request.hasBody
        self.generator = SeededGenerator(seed: seed)
    }

    var eventLoop: any EventLoop { self.pool.eventLoop }
    var requestID: String { self.request.requestID }
    var allowOrigin: String? { self.request.allowOrigin }
    var clientVersionMinor: Int { self.request.clientVersionMinor }
    var isHeadRequest: Bool { self.request.isHead }

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

    /// Starts the first attempt; `now`: the current time, when the caller has it.
    func start(at now: NIODeadline = .now()) {
        let clock = ContinuousClock.now
        self.request.upstream.recordRequest(at: clock)
        self.startAttempt(at: now, clock: clock)
    }

    /// Body bytes of the request (as received: chunked bodies stay encoded), or decoded data for the router fallback.
    func receiveRequestBodyPart(_ buffer: ByteBuffer) {
        if case .finished = self.state { return }
        var part = buffer
        if self.encodesRequestChunks {
            guard buffer.readableBytes > 0 else { return }
            var chunk = ByteBuffer()
            chunk.reserveCapacity(buffer.readableBytes + 12)
            chunk.writeString(String(buffer.readableBytes, radix: 16))
            chunk.writeStaticString("\r\n")
            chunk.writeImmutableBuffer(buffer)
            chunk.writeStaticString("\r\n")
            part = chunk
        }
        self.bodyBytes += part.readableBytes
        if self.keepsBody && self.bodyBytes > self.settings.replayableBodyLimit {
            // Too large to keep for a retry: from now on parts are dropped once written. Those written to the current
            // connection go now; between attempts (no connection is active) every part is still to be sent to the
            // next one, from the start.
            self.keepsBody = false
            if case .active = self.state, self.bodyPartsSent > 0 {
                self.bodyParts.removeFirst(self.bodyPartsSent)
                self.hasDroppedBody = true
            }
            self.bodyPartsSent = 0
        }
        self.bodyParts.append(part)
        if case .active(let connection) = self.state {
            self.writePendingBody(to: connection)
            connection.flush()
        }
    }

    func receiveRequestEnd() {
        if case .finished = self.state { return }
        if self.encodesRequestChunks { self.bodyParts.append(ByteBuffer(staticString: "0\r\n\r\n")) }
        self.isRequestComplete = true
        if case .active(let connection) = self.state {
            self.writePendingBody(to: connection)
            self.isRequestFullySent = self.isBodyWhole
            connection.flush()
        }
    }

    /// Whether the body received is as long as the request said (a shorter one leaves the replica waiting for the
    /// rest: its connection must not be pooled).
    private var isBodyWhole: Bool {
        if case .length(let length) = self.request.framing, !self.encodesRequestChunks { return self.bodyBytes == length }
        return true
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
            connection.delegate = nil
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

    private func startAttempt(at now: NIODeadline = .now(), clock: ContinuousClock.Instant = .now) {
        let upstream = self.request.upstream
        guard let endpoint = upstream.choose(excluding: self.tried, at: clock) else {
            if self.breakerFailurePending { upstream.recordUnretriedFailure() }
            self.breakerFailurePending = false
            return self.fail(APIError(status: .serviceUnavailable, message: "No healthy replica of \(upstream.name) is available"))
        }
        self.breakerFailurePending = false
        guard upstream.breaker.acquire(at: clock) else {
            upstream.finish(endpoint, outcome: .cancelled, heldBreakerPermit: false)
            return self.fail(APIError(status: .serviceUnavailable, message: "Upstream \(upstream.name) is unavailable (circuit open)"))
        }
        self.attempts += 1
        self.endpoint = endpoint
        self.attemptStartedAt = now
        self.isRequestFullySent = false
        self.bodyPartsSent = 0
        if let connection = self.pool.takeIdle(to: endpoint, now: now) {
            self.attach(connection, now: now)
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

    private func attach(_ connection: UpstreamConnection, now: NIODeadline = .now()) {
        self.state = .active(connection)
        connection.reset()
        connection.delegate = self
        connection.expectsBodilessResponse = self.request.isHead
        connection.decodesBody = self.decodesResponse
        if !self.isDownstreamWritable { connection.pauseReading() }
        let endpoint = connection.endpoint
        // The head with the replica's base path (`METHOD /base/target …`) and `Host` line, in one write (a copy: the
        // request keeps its head for another attempt).
        let head = self.request.head
        let basePath = endpoint.basePath
        let capacity = head.readableBytes + basePath.utf8.count + endpoint.hostFieldAndEnd.readableBytes
        var bytes = connection.takeHeadBuffer(capacity: capacity)
        HeadWriter.append(to: &bytes, capacity: capacity) { writer in
            head.withUnsafeReadableBytes { head in
                if basePath.isEmpty {
                    writer.write(head)
                } else {
                    let space = head.firstIndex(of: UInt8(ascii: " "))! + 1
                    writer.write(UnsafeRawBufferPointer(rebasing: head[..<space]))
                    writer.write(basePath)
                    writer.write(UnsafeRawBufferPointer(rebasing: head[space...]))
                }
            }
            endpoint.hostFieldAndEnd.withUnsafeReadableBytes { writer.write($0) }
        }
        connection.writeHead(bytes)
        self.writePendingBody(to: connection)
        if self.isRequestComplete { self.isRequestFullySent = self.isBodyWhole }
        connection.flush()
        self.armTimer(now: now)
        if !self.isRequestComplete && connection.isWritable { self.delegate?.exchangeWantsRequestBody() }
    }

    private func writePendingBody(to connection: UpstreamConnection) {
        guard self.bodyPartsSent < self.bodyParts.count else { return }
        for index in self.bodyPartsSent..<self.bodyParts.count {
            connection.write(self.bodyParts[index])
        }
        self.lastActivity = .now()
        if self.keepsBody {
            self.bodyPartsSent = self.bodyParts.count
        } else {
            self.bodyParts.removeAll(keepingCapacity: true)
            self.bodyPartsSent = 0
            self.hasDroppedBody = true
        }
    }

    /// Ends the current attempt: the connection goes back to the pool (`reuse`) or is closed; the upstream records
    /// the outcome.
    private func endAttempt(_ outcome: UpstreamOutcome, reuse: Bool = false, retried: Bool = false, now: NIODeadline? = nil) {
        self.pool.unwatch(self)
        if case .active(let connection) = self.state {
            connection.delegate = nil
            if reuse {
                self.pool.release(connection, now: now ?? .now())
            } else {
                connection.close()
            }
        }
        if let endpoint = self.endpoint {
            self.request.upstream.finish(
                endpoint,
                outcome: outcome,
                heldBreakerPermit: true,
                retried: retried,
                startedAt: self.attemptStartedAt,
                now: now
            )
            self.endpoint = nil
        }
        self.state = .idle
    }

    private func attemptFailed(_ outcome: UpstreamOutcome) {
        let endpoint = self.endpoint
        let retrying = self.mayRetry(after: outcome)
        self.endAttempt(outcome, retried: retrying)
        if retrying {
            // Counted for the breaker if no retry can start after all (see ``Upstream/finish``).
            self.breakerFailurePending = outcome.isFailure == true
            if let endpoint { self.tried.append(endpoint) }
            self.state = .waitingToRetry
            self.scheduleRetry()
        } else {
            self.fail(Self.error(for: outcome, upstream: self.request.upstream.name))
        }
    }

    /// Whether another attempt is allowed after `outcome` (and takes it from the retry budget).
    private func mayRetry(after outcome: UpstreamOutcome) -> Bool {
        // A body whose start is gone cannot be sent again, whatever happened.
        guard self.attempts < self.settings.maxAttempts, !self.hasDroppedBody else { return false }
        if self.settings.resendsEveryFailedRequest, outcome != .success, outcome != .cancelled {
            return self.request.upstream.tryRetry()
        }
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

    func upstreamReceivedHead(_ head: MessageHead) {
        let code = head.status
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
        self.delegate?.exchangeDidReceiveHead(head)
    }

    func upstreamReceivedBody(_ buffer: ByteBuffer) {
        self.delegate?.exchangeDidReceiveBodyPart(buffer)
    }

    func upstreamReceivedEnd() {
        guard case .active(let connection) = self.state else { return }
        let reuse = connection.isReusable && self.isRequestFullySent
        let now = NIODeadline.now()
        self.finishedAt = now
        self.endAttempt(self.responseStatus >= 500 ? .serverError : .success, reuse: reuse, now: now)
        self.state = .finished
        let delegate = self.delegate
        self.delegate = nil
        delegate?.exchangeDidFinish()
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
                self.request.upstream.finish(endpoint, outcome: .reset, heldBreakerPermit: true, startedAt: self.attemptStartedAt)
                self.endpoint = nil
            }
            self.pool.unwatch(self)
            self.fail(APIError(status: .badGateway, message: "Upstream \(self.request.upstream.name) closed the connection"))
        } else {
            self.attemptFailed(.reset)
        }
    }

    // MARK: Timers

    private func armTimer(now: NIODeadline) {
        self.lastActivity = now
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
        guard !self.settings.resendsEveryFailedRequest else { return self.attemptFailed(.timeout) }
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
