import Histogram
import NIOCore
import NIOPosix
import SocketLoop
import Synchronization

/// State shared by all event loops of a run.
final class RunControl: Sendable {
    /// Requests claimed so far (closed model).
    let claimed = Atomic<Int>(0)

    /// Claims the next sequence number, or nil when the request cap is reached.
    @inline(__always)
    func claim(limit: Int) -> Int? {
        let sequence = claimed.wrappingAdd(1, ordering: .relaxed).oldValue
        return sequence < limit ? sequence : nil
    }
}

/// What a worker reports when it is done.
struct WorkerReport: Sendable {
    var statistics: WorkerStatistics
    var cancelled: Bool
}

/// A snapshot for the progress line.
struct WorkerSnapshot: Sendable {
    var sent: UInt64
    var completed: UInt64
    var failed: UInt64
    var inFlight: Int
    var latency: Histogram<UInt64>
}

/// The part of a run on one event loop: its share of the arrivals (open model) or of the connections (closed model),
/// its connections, and its statistics. All methods run on ``eventLoop``.
final class LoadWorker {
    let eventLoop: any EventLoop
    let plan: CompiledPlan
    let index: Int
    let workerCount: Int
    let control: RunControl
    let done: EventLoopPromise<WorkerReport>
    private lazy var bootstrap: ClientBootstrap = makeBootstrap()
    #if os(Linux)
    /// The loop's own sockets, when the worker runs on a ``SocketEventLoop`` (SwiftNIO channels otherwise).
    private let socketLoop: SocketEventLoop?
    #endif
    private let connectTimeout: TimeAmount

    var stats: WorkerStatistics
    private var templateContext: TemplateContext
    private var scratch: ByteBuffer
    private let allocator = ByteBufferAllocator()
    private let isOpenModel: Bool

    private var connections: [LoadConnection] = []
    private var idle: [LoadConnection] = []
    private var pendingConnects = 0
    private let connectionTarget: Int
    private var queue = RingBuffer<PendingRequest>()
    /// Requests to send again, each on a new connection (see ``LoadConnection/mayResendCurrent``).
    private var retries: [PendingRequest] = []
    private var inFlight = 0

    private var start: UInt64 = 0
    private var end: UInt64 = 0
    private var nextArrival: Int
    private var arrivalSegment = 0
    private let arrivalLimit: Int
    private var generating = false
    private var started = false
    private(set) var finished = false
    private var readyPromise: EventLoopPromise<Void>?

    private lazy var arrivalTimer = WorkerTimer(worker: self, kind: .arrival)
    private lazy var sweepTimer = WorkerTimer(worker: self, kind: .sweep)
    private lazy var endTimer = WorkerTimer(worker: self, kind: .end)
    private lazy var reconnectTimer = WorkerTimer(worker: self, kind: .reconnect)
    private var scheduledCallbacks: [WorkerTimer.Kind: NIOScheduledCallback] = [:]
    private var reconnectScheduled = false
    /// While true (inside a response callback), writes are collected and flushed together after the current batch
    /// of I/O events, so the server sees one burst per event-loop tick instead of a wake-up per request.
    private var defersFlushes = false
    private var pendingFlushes: [LoadConnection] = []
    private var flushScheduled = false
    /// How often requests are checked against the timeout. Only timeouts wait for this tick: connections are opened
    /// as soon as a request needs one (``ensureCapacity()``, ``topUpClosedConnections()``).
    private let sweepInterval: TimeAmount
    private let recordsOutcomes: Bool
    private let outcomeLimit: Int

    init(eventLoop: any EventLoop, plan: CompiledPlan, index: Int, workerCount: Int, control: RunControl, seed: UInt64) {
        self.eventLoop = eventLoop
        self.plan = plan
        self.index = index
        self.workerCount = workerCount
        self.control = control
        self.done = eventLoop.makePromise(of: WorkerReport.self)
        #if os(Linux)
        socketLoop = eventLoop as? SocketEventLoop
        #endif
        connectTimeout = .nanoseconds(Int64(plan.configuration.connectTimeout.nanosecondsClamped))
        let configuration = plan.configuration
        stats = WorkerStatistics(
            requests: Array(repeating: RequestRecorder(), count: plan.requests.count),
            timeline: TimelineRecorder(intervalNanoseconds: plan.timelineIntervalNanoseconds, maximumBuckets: plan.timelineBuckets)
        )
        templateContext = TemplateContext(random: FastRandom(seed: seed))
        scratch = ByteBufferAllocator().buffer(capacity: 1024)
        nextArrival = index
        arrivalLimit = plan.arrivalLimit
        recordsOutcomes = configuration.recordsOutcomes
        outcomeLimit = max(0, configuration.maximumRecordedOutcomes / workerCount + 1)
        let timeoutMilliseconds = Int64(plan.timeoutNanoseconds / 1_000_000)
        sweepInterval = .milliseconds(max(5, min(100, timeoutMilliseconds / 10)))

        switch configuration.model {
        case .open(let rate, let maxConnections):
            isOpenModel = true
            let cap = maxConnections ?? max(8, min(4096, Int(rate.peakRate.rounded(.up))))
            connectionTarget = max(1, (cap + workerCount - 1 - index) / workerCount)
        case .closed(let connections):
            isOpenModel = false
            connectionTarget = (connections + workerCount - 1 - index) / workerCount
        }
    }

    private func makeBootstrap() -> ClientBootstrap {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        // ClientBootstrap sets TCP_NODELAY itself (as a `.tcpOption`); setting it again as a `.socketOption` cost a
        // second setsockopt and option future per connection, which shows with servers that close every connection.
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LoadConnection(worker: bound.value))
                }
            }
    }

    // MARK: Lifecycle

    /// Opens the initial connections; the returned future completes when all attempts are done.
    func prepare() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let initial: Int
        if isOpenModel {
            let peak: Double
            if case .open(let rate, _) = plan.configuration.model { peak = rate.peakRate } else { peak = 0 }
            initial = min(connectionTarget, max(1, Int((peak / Double(workerCount) * 0.01).rounded(.up))))
        } else {
            initial = connectionTarget
        }
        guard initial > 0 else {
            promise.succeed(())
            return promise.futureResult
        }
        readyPromise = promise
        for _ in 0..<initial { connect() }
        return promise.futureResult
    }

    /// Starts the load at `start` (monotonic nanoseconds).
    func begin(at start: UInt64) {
        guard !finished else { return }
        self.start = start
        end = start &+ plan.durationNanoseconds
        started = true
        generating = true
        schedule(.sweep, at: NIODeadline.uptimeNanoseconds(start) + sweepInterval)
        if isOpenModel {
            if nextArrival >= arrivalLimit {
                generating = false
                checkFinished()
                return
            }
            schedule(.arrival, at: NIODeadline.uptimeNanoseconds(start &+ intendedOffset(of: nextArrival)))
        } else {
            schedule(.end, at: NIODeadline.uptimeNanoseconds(end))
            let ready = idle
            idle.removeAll(keepingCapacity: true)
            for connection in ready where generating {
                sendNextClosed(on: connection, now: NIODeadline.now().uptimeNanoseconds)
            }
            topUpClosedConnections()
        }
    }

    /// Stops at once (cancellation): nothing more is sent and in-flight requests are abandoned.
    func stop() {
        guard !finished else { return }
        generating = false
        finish(cancelled: true)
    }

    private func checkFinished() {
        guard started, !finished, !generating, inFlight == 0, queue.isEmpty, retries.isEmpty else { return }
        finish(cancelled: false)
    }

    private func finish(cancelled: Bool) {
        finished = true
        generating = false
        for callback in scheduledCallbacks.values { callback.cancel() }
        scheduledCallbacks.removeAll()
        let open = connections
        connections.removeAll()
        idle.removeAll()
        queue.removeAll()
        retries.removeAll()
        for connection in open {
            connection.poolIndex = -1
            connection.close()
        }
        readyPromise?.succeed(())
        readyPromise = nil
        done.succeed(WorkerReport(statistics: stats, cancelled: cancelled))
    }

    /// Counters and latency so far, for the progress line.
    func snapshot() -> WorkerSnapshot {
        var latency = LatencyHistogram.make()
        var sent: UInt64 = 0
        var completed: UInt64 = 0
        var failed: UInt64 = 0
        for recorder in stats.requests {
            latency.add(recorder.latency)
            sent += recorder.sent
            completed += recorder.completed
            failed += recorder.errors.reduce(0, +)
        }
        return WorkerSnapshot(
            sent: sent,
            completed: completed,
            failed: failed,
            inFlight: inFlight + queue.count + retries.count,
            latency: latency
        )
    }

    // MARK: Timers

    fileprivate func timerFired(_ kind: WorkerTimer.Kind) {
        scheduledCallbacks[kind] = nil
        guard !finished else { return }
        switch kind {
        case .arrival:
            arrivalsDue()
        case .sweep:
            sweep()
            if !finished { schedule(.sweep, at: .now() + sweepInterval) }
        case .end:
            if !isOpenModel {
                generating = false
                for connection in idle { connection.close() }
                checkFinished()
            }
        case .reconnect:
            reconnectScheduled = false
            replaceConnections()
        }
    }

    private func schedule(_ kind: WorkerTimer.Kind, at deadline: NIODeadline) {
        let timer: WorkerTimer
        switch kind {
        case .arrival: timer = arrivalTimer
        case .sweep: timer = sweepTimer
        case .end: timer = endTimer
        case .reconnect: timer = reconnectTimer
        }
        scheduledCallbacks[kind]?.cancel()
        scheduledCallbacks[kind] = try? eventLoop.assumeIsolated().scheduleCallback(at: deadline, handler: timer)
    }

    // MARK: Open model

    @inline(__always)
    private func intendedOffset(of arrival: Int) -> UInt64 {
        plan.schedule!.offset(of: arrival, segment: &arrivalSegment)
    }

    private func arrivalsDue() {
        let now = NIODeadline.now().uptimeNanoseconds
        while generating, nextArrival < arrivalLimit {
            let intended = start &+ intendedOffset(of: nextArrival)
            if intended > now {
                schedule(.arrival, at: .uptimeNanoseconds(intended))
                break
            }
            let request = PendingRequest(
                intended: intended,
                sequence: nextArrival,
                requestIndex: plan.pickRequest(&templateContext.random)
            )
            stats.arrivals += 1
            nextArrival += workerCount
            if let connection = popUsableIdle() {
                send(request, on: connection, now: now)
            } else {
                queue.append(request)
            }
        }
        if nextArrival >= arrivalLimit { generating = false }
        // Requests that found no idle connection get one now (before, this was skipped whenever the next arrival was
        // still ahead, so they waited for the timeout sweep: up to 100 ms against servers that close connections).
        ensureCapacity()
        checkFinished()
    }

    /// An idle connection that can take a request (one the server closed may still be listed until its close event).
    @inline(__always)
    private func popUsableIdle() -> LoadConnection? {
        while let connection = idle.popLast() {
            if connection.isUsable { return connection }
        }
        return nil
    }

    /// Opens connections, concurrently, while requests wait and the pool has room.
    private func ensureCapacity() {
        guard !finished else { return }
        while queue.count + retries.count > pendingConnects, connections.count + pendingConnects < connectionTarget {
            connect()
        }
    }

    // MARK: Closed model

    private func sendNextClosed(on connection: LoadConnection, now: UInt64) {
        guard generating, now < end, let sequence = control.claim(limit: plan.configuration.maxRequests) else {
            generating = false
            idle.append(connection)
            checkFinished()
            return
        }
        let request = PendingRequest(intended: now, sequence: sequence, requestIndex: plan.pickRequest(&templateContext.random))
        stats.arrivals += 1
        send(request, on: connection, now: now)
    }

    /// Keeps the pool full while generating, and opens connections for retries after that.
    private func topUpClosedConnections() {
        guard !finished else { return }
        while connections.count + pendingConnects < connectionTarget, generating || retries.count > pendingConnects { connect() }
    }

    // MARK: Sending

    @inline(__always)
    private func send(_ request: PendingRequest, on connection: LoadConnection, now: UInt64) {
        let compiled = plan.requests[request.requestIndex]
        templateContext.sequence = request.sequence
        let bytes = compiled.encode(context: &templateContext, allocator: allocator, scratch: &scratch)
        inFlight += 1
        stats.recordSend(
            requestIndex: request.requestIndex,
            intendedOffset: request.intended &- start,
            sendOffset: now > start ? now - start : 0,
            isLate: now > request.intended && now &- request.intended > plan.lateNanoseconds,
            inFlight: inFlight,
            isRetry: request.isRetry
        )
        connection.send(bytes, request: request, isHeadRequest: compiled.isHeadRequest, now: now, flush: !defersFlushes)
        if defersFlushes {
            pendingFlushes.append(connection)
            if !flushScheduled {
                flushScheduled = true
                eventLoop.assumeIsolated().execute { self.flushPending() }
            }
        }
    }

    /// A response arrived on `connection`.
    @inline(__always)
    func requestCompleted(on connection: LoadConnection, status: Int) {
        guard !finished else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        let request = connection.current
        inFlight -= 1
        let latency = now &- request.intended
        let service = now &- connection.sentAt
        let success = plan.requests[request.requestIndex].expected.contains(status)
        let latencyMicroseconds = LatencyHistogram.microseconds(fromNanoseconds: latency)
        let serviceMicroseconds = LatencyHistogram.microseconds(fromNanoseconds: service)
        stats.recordCompletion(
            requestIndex: request.requestIndex,
            status: status,
            success: success,
            latencyMicroseconds: latencyMicroseconds,
            serviceMicroseconds: serviceMicroseconds,
            intendedOffset: request.intended &- start,
            completionOffset: now &- start,
            receivedBytes: connection.receivedBytes
        )
        connection.receivedBytes = 0
        if recordsOutcomes, stats.outcomes.count < outcomeLimit {
            stats.outcomes.append(
                OutcomeRecord(
                    sequence: request.sequence,
                    intendedOffset: request.intended &- start,
                    latency: latency,
                    service: service,
                    requestIndex: Int32(request.requestIndex),
                    status: Int16(clamping: status),
                    error: success ? -1 : Int8(RequestErrorKind.unexpectedStatus.rawValue),
                    wasSent: true
                )
            )
        }
        if !connection.isClosing {
            defersFlushes = true
            reuse(connection, now: now)
            defersFlushes = false
        } else {
            // The server ends the connection: retire it now and open the next one without waiting for the close.
            retire(connection)
            replaceConnections()
        }
        checkFinished()
    }

    private func flushPending() {
        flushScheduled = false
        var index = 0
        while index < pendingFlushes.count {
            pendingFlushes[index].flush()
            index += 1
        }
        pendingFlushes.removeAll(keepingCapacity: true)
    }

    /// The request in flight on `connection` failed; a connection reset that is safe to retry sends it again, once,
    /// on a new connection.
    func requestFailed(on connection: LoadConnection, kind: RequestErrorKind) {
        guard !finished else { return }
        inFlight -= 1
        let request = connection.current
        if kind == .reset, !request.isRetry, connection.mayResendCurrent {
            var retry = request
            retry.isRetry = true
            retries.append(retry)
            stats.retries += 1
            retire(connection)
            replaceConnections()
            return
        }
        recordFailure(request, kind: kind, sentAt: connection.sentAt)
        checkFinished()
    }

    private func recordFailure(_ request: PendingRequest, kind: RequestErrorKind, sentAt: UInt64?) {
        let now = NIODeadline.now().uptimeNanoseconds
        stats.requests[request.requestIndex].errors[kind.rawValue] &+= 1
        stats.lastEventOffset = max(stats.lastEventOffset, now &- start)
        let bucket = stats.timeline.index(forOffset: request.intended &- start)
        stats.timeline.buckets[bucket].errors &+= 1
        if kind == .timeout {
            stats.recordTimeoutLatency(
                requestIndex: request.requestIndex,
                latencyMicroseconds: LatencyHistogram.microseconds(fromNanoseconds: now &- request.intended),
                serviceMicroseconds: sentAt.map { LatencyHistogram.microseconds(fromNanoseconds: now &- $0) },
                intendedOffset: request.intended &- start
            )
        }
        if recordsOutcomes, stats.outcomes.count < outcomeLimit {
            stats.outcomes.append(
                OutcomeRecord(
                    sequence: request.sequence,
                    intendedOffset: request.intended &- start,
                    latency: 0,
                    service: sentAt.map { now &- $0 } ?? 0,
                    requestIndex: Int32(request.requestIndex),
                    status: 0,
                    error: Int8(kind.rawValue),
                    wasSent: sentAt != nil
                )
            )
        }
    }

    @inline(__always)
    private func reuse(_ connection: LoadConnection, now: UInt64) {
        if isOpenModel {
            if let next = queue.popFirst() {
                send(next, on: connection, now: now)
            } else {
                idle.append(connection)
            }
        } else {
            sendNextClosed(on: connection, now: now)
        }
    }

    /// Times out requests (queued or in flight) older than the timeout, counted from their intended send time.
    private func sweep() {
        let now = NIODeadline.now().uptimeNanoseconds
        let timeout = plan.timeoutNanoseconds
        while let first = queue.first, now &- first.intended > timeout, now > first.intended {
            _ = queue.popFirst()
            recordFailure(first, kind: .timeout, sentAt: nil)
        }
        while let first = retries.first, now &- first.intended > timeout, now > first.intended {
            retries.removeFirst()
            recordFailure(first, kind: .timeout, sentAt: nil)
        }
        // A copy: an abort may retire the connection (and move another one into its slot) before it returns.
        for connection in connections where connection.isBusy {
            let intended = connection.current.intended
            if now > intended, now &- intended > timeout {
                connection.abort(.timeout)
            }
        }
        checkFinished()
    }

    // MARK: Connections

    private func connect() {
        pendingConnects += 1
        #if os(Linux)
        if let socketLoop {
            LoadConnection(worker: self).open(on: socketLoop, to: plan.address, timeout: connectTimeout)
            return
        }
        #endif
        bootstrap
            .connect(to: plan.address)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let handler = try? channel.pipeline.syncOperations.handler(type: LoadConnection.self)
                    self.connected(handler, channel: channel)
                case .failure:
                    self.connectFailed()
                }
            }
    }

    private func connected(_ connection: LoadConnection?, channel: any Channel) {
        pendingConnects -= 1
        guard let connection, !finished, channel.isActive else {
            channel.close(promise: nil)
            if !finished { connectFailed(countsPending: false) }
            return
        }
        connected(connection)
    }

    #if os(Linux)
    /// A connection of the ``SocketEventLoop`` is established.
    func socketConnected(_ connection: LoadConnection) {
        pendingConnects -= 1
        guard !finished else {
            connection.close()
            return
        }
        connected(connection)
    }

    /// A connection of the ``SocketEventLoop`` could not be established.
    func socketConnectFailed() {
        connectFailed()
    }
    #endif

    private func connected(_ connection: LoadConnection) {
        connection.poolIndex = connections.count
        connections.append(connection)
        stats.connectionsOpened += 1
        resolveReadyIfNeeded()
        if !started {
            idle.append(connection)
        } else if !retries.isEmpty {
            send(retries.removeFirst(), on: connection, now: NIODeadline.now().uptimeNanoseconds)
        } else if isOpenModel {
            reuse(connection, now: NIODeadline.now().uptimeNanoseconds)
        } else if generating {
            sendNextClosed(on: connection, now: NIODeadline.now().uptimeNanoseconds)
        } else {
            connection.close()
        }
    }

    private func connectFailed(countsPending: Bool = true) {
        if countsPending { pendingConnects -= 1 }
        resolveReadyIfNeeded()
        guard started, !finished else { return }
        if !retries.isEmpty {
            // A retry that cannot get a connection fails with the connect error.
            recordFailure(retries.removeFirst(), kind: .connect, sentAt: nil)
            scheduleReconnect()
        } else if isOpenModel {
            // A failed connect fails the oldest waiting request, so a dead server cannot make requests wait forever.
            if let request = queue.popFirst() {
                recordFailure(request, kind: .connect, sentAt: nil)
            }
            if !queue.isEmpty { scheduleReconnect() }
        } else if generating {
            if let sequence = control.claim(limit: plan.configuration.maxRequests) {
                let request = PendingRequest(
                    intended: NIODeadline.now().uptimeNanoseconds,
                    sequence: sequence,
                    requestIndex: plan.pickRequest(&templateContext.random)
                )
                stats.arrivals += 1
                recordFailure(request, kind: .connect, sentAt: nil)
                scheduleReconnect()
            } else {
                generating = false
            }
        }
        checkFinished()
    }

    private func scheduleReconnect() {
        guard !reconnectScheduled else { return }
        reconnectScheduled = true
        schedule(.reconnect, at: .now() + .milliseconds(10))
    }

    private func resolveReadyIfNeeded() {
        if pendingConnects == 0, let promise = readyPromise {
            readyPromise = nil
            promise.succeed(())
        }
    }

    /// Takes a connection out of the pool (it is closing), so that its slot can be filled at once.
    private func retire(_ connection: LoadConnection) {
        let position = connection.poolIndex
        guard position >= 0 else { return }
        connection.poolIndex = -1
        let last = connections.removeLast()
        if last !== connection {
            connections[position] = last
            last.poolIndex = position
        }
    }

    /// Opens connections for the requests that wait (open model) or to keep the pool full (closed model).
    private func replaceConnections() {
        guard started, !finished else { return }
        if isOpenModel {
            ensureCapacity()
        } else {
            topUpClosedConnections()
        }
    }

    /// A connection closed (by either side).
    func connectionClosed(_ connection: LoadConnection) {
        retire(connection)
        if let position = idle.firstIndex(where: { $0 === connection }) { idle.remove(at: position) }
        guard started, !finished else { return }
        replaceConnections()
        checkFinished()
    }
}

/// A reusable timer callback for a worker.
final class WorkerTimer: NIOScheduledCallbackHandler {
    enum Kind {
        case arrival
        case sweep
        case end
        case reconnect
    }

    weak var worker: LoadWorker?
    let kind: Kind

    init(worker: LoadWorker, kind: Kind) {
        self.worker = worker
        self.kind = kind
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        worker?.timerFired(kind)
    }
}
