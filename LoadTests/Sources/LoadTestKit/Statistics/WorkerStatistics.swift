import Histogram

/// Counters and histograms for one request name, owned by one event loop.
struct RequestRecorder: Sendable {
    var sent: UInt64 = 0
    var completed: UInt64 = 0
    var succeeded: UInt64 = 0
    var errors = [UInt64](repeating: 0, count: RequestErrorKind.allCases.count)
    var statusCounts = [UInt64](repeating: 0, count: 600)
    var otherStatuses: [Int: UInt64] = [:]
    var latency = LatencyHistogram.make()
    var service = LatencyHistogram.make()
    /// Timed-out requests recorded in `latency` at their waiting time.
    var timedOutInLatency: UInt64 = 0

    @inline(__always)
    mutating func countStatus(_ status: Int) {
        if status >= 0, status < 600 {
            statusCounts[status] &+= 1
        } else {
            otherStatuses[status, default: 0] += 1
        }
    }

    func result(name: String) -> RequestResult {
        var result = RequestResult(name: name)
        result.sent = sent
        result.completed = completed
        result.succeeded = succeeded
        for kind in RequestErrorKind.allCases where errors[kind.rawValue] > 0 {
            result.errors[kind] = errors[kind.rawValue]
        }
        for (status, count) in statusCounts.enumerated() where count > 0 {
            result.statusCounts[status] = count
        }
        result.statusCounts.merge(otherStatuses, uniquingKeysWith: +)
        result.latencyHistogram = latency
        result.serviceTimeHistogram = service
        result.timeoutsInLatency = timedOutInLatency
        return result
    }

    mutating func add(_ other: RequestRecorder) {
        sent += other.sent
        completed += other.completed
        succeeded += other.succeeded
        for index in errors.indices { errors[index] += other.errors[index] }
        for index in statusCounts.indices { statusCounts[index] += other.statusCounts[index] }
        otherStatuses.merge(other.otherStatuses, uniquingKeysWith: +)
        latency.add(other.latency)
        service.add(other.service)
        timedOutInLatency += other.timedOutInLatency
    }
}

/// One interval of the timeline, as recorded.
struct TimelineBucket: Sendable {
    var started: UInt64 = 0
    var completed: UInt64 = 0
    var errors: UInt64 = 0
    var latency = LatencyHistogram.makeCoarse()
    var service = LatencyHistogram.makeCoarse()

    mutating func add(_ other: TimelineBucket) {
        started += other.started
        completed += other.completed
        errors += other.errors
        latency.add(other.latency)
        service.add(other.service)
    }
}

/// The timeline of a run, in fixed intervals from the start.
struct TimelineRecorder: Sendable {
    let intervalNanoseconds: UInt64
    let maximumBuckets: Int
    var buckets: [TimelineBucket] = []

    init(intervalNanoseconds: UInt64, maximumBuckets: Int) {
        self.intervalNanoseconds = max(1, intervalNanoseconds)
        self.maximumBuckets = max(1, maximumBuckets)
    }

    /// The bucket index for an offset from the start, growing the timeline as needed.
    @inline(__always)
    mutating func index(forOffset offset: UInt64) -> Int {
        let index = min(Int(offset / intervalNanoseconds), maximumBuckets - 1)
        if index >= buckets.count { grow(to: index) }
        return index
    }

    private mutating func grow(to index: Int) {
        while buckets.count <= index { buckets.append(TimelineBucket()) }
    }

    mutating func add(_ other: TimelineRecorder) {
        if other.buckets.count > buckets.count, !other.buckets.isEmpty { grow(to: other.buckets.count - 1) }
        for (index, bucket) in other.buckets.enumerated() { buckets[index].add(bucket) }
    }

    func points() -> [TimelinePoint] {
        let interval = Double(intervalNanoseconds) / 1e9
        return buckets.enumerated().map { index, bucket in
            func ms(_ histogram: Histogram<UInt32>, _ percentile: Double) -> Double {
                histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
            }
            return TimelinePoint(
                offset: Double(index) * interval,
                interval: interval,
                started: bucket.started,
                completed: bucket.completed,
                errors: bucket.errors,
                p50: ms(bucket.latency, 50),
                p90: ms(bucket.latency, 90),
                p99: ms(bucket.latency, 99),
                max: bucket.latency.totalCount == 0 ? 0 : Double(bucket.latency.max) / 1000,
                serviceP99: ms(bucket.service, 99)
            )
        }
    }
}

/// A compact record of one request's outcome.
struct OutcomeRecord: Sendable {
    var sequence: Int
    var intendedOffset: UInt64
    var latency: UInt64
    var service: UInt64
    var requestIndex: Int32
    var status: Int16
    /// `RequestErrorKind.rawValue`, or -1.
    var error: Int8
    var wasSent: Bool
}

/// Everything one event loop measured.
struct WorkerStatistics: Sendable {
    var requests: [RequestRecorder]
    var timeline: TimelineRecorder
    var arrivals: UInt64 = 0
    var lateSends: UInt64 = 0
    var connectionsOpened: UInt64 = 0
    /// Requests sent a second time after the server closed a reused connection under them.
    var retries: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var maxInFlight = 0
    var lastEventOffset: UInt64 = 0
    /// When the last request was written, from the start.
    var lastSendOffset: UInt64 = 0
    var outcomes: [OutcomeRecord] = []

    /// Records a response (one exclusive access for the whole update).
    @inline(__always)
    mutating func recordCompletion(
        requestIndex: Int,
        status: Int,
        success: Bool,
        latencyMicroseconds: UInt64,
        serviceMicroseconds: UInt64,
        intendedOffset: UInt64,
        completionOffset: UInt64,
        receivedBytes: UInt64
    ) {
        bytesReceived &+= receivedBytes
        requests[requestIndex].completed &+= 1
        requests[requestIndex].countStatus(status)
        requests[requestIndex].latency.record(latencyMicroseconds)
        requests[requestIndex].service.record(serviceMicroseconds)
        if success {
            requests[requestIndex].succeeded &+= 1
        } else {
            requests[requestIndex].errors[RequestErrorKind.unexpectedStatus.rawValue] &+= 1
        }
        lastEventOffset = completionOffset
        let startBucket = timeline.index(forOffset: intendedOffset)
        timeline.buckets[startBucket].latency.record(latencyMicroseconds)
        timeline.buckets[startBucket].service.record(serviceMicroseconds)
        if !success { timeline.buckets[startBucket].errors &+= 1 }
        let endBucket = timeline.index(forOffset: completionOffset)
        timeline.buckets[endBucket].completed &+= 1
    }

    /// Records a request abandoned at its timeout in the corrected latency, at the time it waited (at least the timeout):
    /// a stall longer than the timeout must not vanish from the percentiles.
    @inline(__always)
    mutating func recordTimeoutLatency(requestIndex: Int, latencyMicroseconds: UInt64, serviceMicroseconds: UInt64?, intendedOffset: UInt64) {
        requests[requestIndex].latency.record(latencyMicroseconds)
        if let serviceMicroseconds { requests[requestIndex].service.record(serviceMicroseconds) }
        requests[requestIndex].timedOutInLatency &+= 1
        let bucket = timeline.index(forOffset: intendedOffset)
        timeline.buckets[bucket].latency.record(latencyMicroseconds)
        if let serviceMicroseconds { timeline.buckets[bucket].service.record(serviceMicroseconds) }
    }

    /// Records a send; a retry is not counted as sent (or late) a second time.
    @inline(__always)
    mutating func recordSend(requestIndex: Int, intendedOffset: UInt64, sendOffset: UInt64, isLate: Bool, inFlight: Int, isRetry: Bool) {
        if sendOffset > lastSendOffset { lastSendOffset = sendOffset }
        if inFlight > maxInFlight { maxInFlight = inFlight }
        guard !isRetry else { return }
        if isLate { lateSends &+= 1 }
        requests[requestIndex].sent &+= 1
        let bucket = timeline.index(forOffset: intendedOffset)
        timeline.buckets[bucket].started &+= 1
    }
}
