import Foundation
import Histogram
import NIOCore
import NIOPosix
import SocketLoop

/// Live figures, delivered to the progress callback about once per ``LoadConfiguration/progressInterval``.
public struct LoadProgress: Sendable {
    /// Time since the load started.
    public var elapsed: Duration
    /// Configured duration minus elapsed (zero while draining).
    public var remaining: Duration
    /// Requests sent so far.
    public var sent: UInt64
    /// Responses so far.
    public var completed: UInt64
    /// Failures so far.
    public var failed: UInt64
    /// Requests in flight or waiting for a connection.
    public var inFlight: Int
    /// Completed requests per second since the previous report.
    public var currentRate: Double
    /// Corrected p99 so far.
    public var p99: Duration
}

/// Runs load against a server: on the engine's own epoll loops (``LoadTransport/sockets``, Linux) or SwiftNIO channels.
///
/// ```swift
/// let configuration = LoadConfiguration(
///     baseURL: try BaseURL("http://127.0.0.1:8080"),
///     requests: [RequestDefinition(name: "health", path: .literal("/api/health"))],
///     model: .open(.constant(100)),
///     duration: .seconds(10))
/// let result = try await LoadRunner.run(configuration)
/// print(result.overall.latency.p99)
/// ```
///
/// The run stops by itself after the duration or the request cap (plus at most the request timeout to drain), and
/// stops early when the calling task is cancelled (``LoadResult/cancelled`` is then true).
public enum LoadRunner {
    /// Runs the load and returns the measurements.
    ///
    /// - Parameters:
    ///   - configuration: What to run.
    ///   - group: Event loops to use (SwiftNIO's: the engine then runs on SwiftNIO channels, whatever
    ///     ``LoadConfiguration/transport`` says); nil creates (and shuts down) a group of ``LoadConfiguration/transport``
    ///     with ``LoadConfiguration/threads`` threads.
    ///   - progress: Called periodically with live figures.
    /// - Throws: ``ScenarioError`` for an invalid configuration or an unresolvable host.
    public static func run(
        _ configuration: LoadConfiguration,
        on group: (any EventLoopGroup)? = nil,
        progress: (@Sendable (LoadProgress) -> Void)? = nil
    ) async throws -> LoadResult {
        try configuration.validate()
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(configuration.baseURL.host, port: configuration.baseURL.port)
        } catch {
            throw ScenarioError("cannot resolve host '\(configuration.baseURL.host)': \(error)")
        }
        let plan = try CompiledPlan(configuration, address: address)
        // No more event loops than connections: a loop without a connection would only wait for the end.
        var threads = max(1, configuration.threads ?? System.coreCount)
        switch configuration.model {
        case .closed(let connections): threads = min(threads, connections)
        case .open(_, let maxConnections?): threads = min(threads, maxConnections)
        case .open: break
        }
        if let group {
            return try await run(plan, loops: Array(group.makeIterator().prefix(threads)), progress: progress)
        }
        let ownGroup = makeGroup(configuration.transport, threads: threads)
        do {
            let result = try await run(plan, loops: Array(ownGroup.makeIterator()), progress: progress)
            try? await ownGroup.shutdownGracefully()
            return result
        } catch {
            try? await ownGroup.shutdownGracefully()
            throw error
        }
    }

    /// Event loops for `transport`: the engine's own sockets (Linux) or SwiftNIO's.
    static func makeGroup(_ transport: LoadTransport, threads: Int) -> any EventLoopGroup {
        #if os(Linux)
        if transport == .sockets { return SocketEventLoopGroup(numberOfThreads: threads, namePrefix: "loadtest-loop") }
        #endif
        return MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    private static func run(
        _ plan: CompiledPlan,
        loops: [any EventLoop],
        progress: (@Sendable (LoadProgress) -> Void)?
    ) async throws -> LoadResult {
        let configuration = plan.configuration
        var seeds = configuration.seed.map { FastRandom(seed: $0) } ?? FastRandom()
        let control = RunControl()
        var built: [NIOLoopBound<LoadWorker>] = []
        for (index, loop) in loops.enumerated() {
            let seed = seeds.next()
            let count = loops.count
            let worker = try await loop.submit {
                NIOLoopBound(
                    LoadWorker(eventLoop: loop, plan: plan, index: index, workerCount: count, control: control, seed: seed),
                    eventLoop: loop
                )
            }.get()
            built.append(worker)
        }
        let workers = built
        // Open the initial connections everywhere before the clock starts.
        for worker in workers {
            let loop = worker.eventLoop
            _ = try? await loop.flatSubmit { worker.value.prepare() }.get()
        }

        let start = NIODeadline.now() + .milliseconds(2)
        let startDate = Date().addingTimeInterval(0.002)
        for worker in workers {
            worker.eventLoop.execute { worker.value.begin(at: start.uptimeNanoseconds) }
        }

        let reports: [WorkerReport] = try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: [WorkerReport]?.self) { group in
                group.addTask {
                    var reports: [WorkerReport] = []
                    for worker in workers {
                        reports.append(try await worker.eventLoop.flatSubmit { worker.value.done.futureResult }.get())
                    }
                    return reports
                }
                if let progress {
                    group.addTask {
                        await reportProgress(workers: workers, start: start, configuration: configuration, progress: progress)
                        return nil
                    }
                }
                var collected: [WorkerReport] = []
                while let next = try await group.next() {
                    if let next {
                        collected = next
                        group.cancelAll()
                    }
                }
                return collected
            }
        } onCancel: {
            for worker in workers {
                worker.eventLoop.execute { worker.value.stop() }
            }
        }
        return makeResult(plan: plan, reports: reports, startDate: startDate)
    }

    private static func reportProgress(
        workers: [NIOLoopBound<LoadWorker>],
        start: NIODeadline,
        configuration: LoadConfiguration,
        progress: @Sendable (LoadProgress) -> Void
    ) async {
        var previousCompleted: UInt64 = 0
        var previousTime = start
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.progressInterval)
            if Task.isCancelled { return }
            var latency = LatencyHistogram.make()
            var sent: UInt64 = 0
            var completed: UInt64 = 0
            var failed: UInt64 = 0
            var inFlight = 0
            for worker in workers {
                guard let snapshot = try? await worker.eventLoop.submit({ worker.value.snapshot() }).get() else { continue }
                latency.add(snapshot.latency)
                sent += snapshot.sent
                completed += snapshot.completed
                failed += snapshot.failed
                inFlight += snapshot.inFlight
            }
            let now = NIODeadline.now()
            let interval = Double((now - previousTime).nanoseconds) / 1e9
            let elapsed = Duration.nanoseconds(max(0, (now - start).nanoseconds))
            progress(
                LoadProgress(
                    elapsed: elapsed,
                    remaining: max(.zero, configuration.duration - elapsed),
                    sent: sent,
                    completed: completed,
                    failed: failed,
                    inFlight: inFlight,
                    currentRate: interval > 0 ? Double(completed - previousCompleted) / interval : 0,
                    p99: .microseconds(Int64(latency.totalCount > 0 ? latency.valueAtPercentile(99) : 0))
                )
            )
            previousCompleted = completed
            previousTime = now
        }
    }

    private static func makeResult(plan: CompiledPlan, reports: [WorkerReport], startDate: Date) -> LoadResult {
        let configuration = plan.configuration
        var requests = plan.requests.map { _ in RequestRecorder() }
        var timeline = TimelineRecorder(intervalNanoseconds: plan.timelineIntervalNanoseconds, maximumBuckets: plan.timelineBuckets)
        var arrivals: UInt64 = 0
        var lateSends: UInt64 = 0
        var connectionsOpened: UInt64 = 0
        var retried: UInt64 = 0
        var bytesReceived: UInt64 = 0
        var maxInFlight = 0
        var lastEvent: UInt64 = 0
        var lastSend: UInt64 = 0
        var outcomes: [OutcomeRecord] = []
        var cancelled = false
        for report in reports {
            let statistics = report.statistics
            for index in requests.indices { requests[index].add(statistics.requests[index]) }
            timeline.add(statistics.timeline)
            arrivals += statistics.arrivals
            lateSends += statistics.lateSends
            connectionsOpened += statistics.connectionsOpened
            retried += statistics.retries
            bytesReceived += statistics.bytesReceived
            maxInFlight += statistics.maxInFlight
            lastEvent = max(lastEvent, statistics.lastEventOffset)
            lastSend = max(lastSend, statistics.lastSendOffset)
            outcomes.append(contentsOf: statistics.outcomes)
            cancelled = cancelled || report.cancelled
        }
        let perRequest = zip(plan.requests, requests).map { compiled, recorder in recorder.result(name: compiled.name) }
        var overall = RequestResult(name: "all")
        for request in perRequest { overall.add(request) }

        let isOpen: Bool
        var intendedRate: Double?
        if let schedule = plan.schedule {
            // The schedule's average rate (the request cap may end the run earlier; the aim was still this rate).
            isOpen = true
            let seconds = schedule.lengthNanoseconds / 1e9
            intendedRate = seconds > 0 ? Double(schedule.totalArrivals) / seconds : nil
            if case .open(let arrival, _) = configuration.model, arrival.isConstant { intendedRate = arrival.peakRate }
        } else {
            isOpen = false
        }

        var recordedOutcomes: [RequestOutcome]?
        if configuration.recordsOutcomes {
            outcomes.sort { $0.intendedOffset < $1.intendedOffset }
            recordedOutcomes = outcomes.map { record in
                let error = record.error >= 0 ? RequestErrorKind(rawValue: Int(record.error)) : nil
                let hasResponse = record.status != 0
                return RequestOutcome(
                    name: plan.requests[Int(record.requestIndex)].name,
                    sequence: record.sequence,
                    intendedOffset: Double(record.intendedOffset) / 1e9,
                    latency: hasResponse ? Double(record.latency) / 1e9 : nil,
                    serviceTime: hasResponse ? Double(record.service) / 1e9 : nil,
                    status: hasResponse ? Int(record.status) : nil,
                    error: error
                )
            }
        }

        return LoadResult(
            name: configuration.name,
            model: configuration.model.description,
            isOpenModel: isOpen,
            baseURL: configuration.baseURL.description,
            startDate: startDate,
            configuredDuration: configuration.duration,
            maxRequests: configuration.maxRequests,
            elapsed: .nanoseconds(Int64(lastEvent)),
            sendWindow: LoadResult.sendWindow(lastSend: .nanoseconds(Int64(lastSend)), sent: overall.sent, elapsed: .nanoseconds(Int64(lastEvent))),
            requestTimeout: configuration.requestTimeout,
            intended: arrivals,
            intendedRate: intendedRate,
            lateSends: lateSends,
            lateSendThreshold: configuration.lateSendThreshold,
            connectionsOpened: connectionsOpened,
            retried: retried,
            maxInFlight: maxInFlight,
            bytesReceived: bytesReceived,
            cancelled: cancelled,
            overall: overall,
            requests: perRequest,
            timeline: timeline.points(),
            outcomes: recordedOutcomes,
            variableNames: configuration.variables.keys.sorted()
        )
    }
}
