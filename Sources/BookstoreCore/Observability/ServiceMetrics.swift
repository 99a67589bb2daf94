import Foundation
import Prometheus
import Synchronization

/// The Prometheus registry of one service, with the series of SPEC §3. Every series carries a `service` label.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let service: String
    private let httpSeries: Mutex<[HTTPSeriesKey: HTTPRequestSeries]>
    private let limits: ResourceLimits

    /// Request duration buckets, in seconds.
    public static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init(service: String, limits: ResourceLimits = ResourceLimits()) {
        self.registry = PrometheusCollectorRegistry()
        self.service = service
        self.httpSeries = Mutex([:])
        self.limits = limits
        if let memory = limits.memoryBytes {
            self.gauge("bookstore_memory_limit_bytes", help: "Memory limit of the container").set(to: memory)
        }
        if let cpu = limits.cpuCores {
            self.gauge("bookstore_cpu_limit_cores", help: "CPU limit of the container, in cores").set(to: cpu)
        }
    }

    /// Records one HTTP request.
    public func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.requestSeries(method: method, route: route, status: status).record(nanoseconds: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The series ``recordRequest(method:route:status:duration:)`` records into for these labels (created on first
    /// use), for callers that record many requests with the same labels and keep it.
    public func requestSeries(method: String, route: String, status: Int) -> HTTPRequestSeries {
        let key = HTTPSeriesKey(method: method, route: route, status: status)
        return self.httpSeries.withLock { cache in
            if let series = cache[key] { return series }
            let labels = [("service", self.service), ("method", method), ("route", route), ("status", String(status))]
            let series = HTTPRequestSeries(
                counter: self.registry.makeCounter(descriptor: Self.descriptor("http_requests_total", "HTTP requests handled"), labels: labels),
                histogram: self.registry.makeDurationHistogram(
                    descriptor: Self.descriptor("http_request_duration_seconds", "HTTP request duration in seconds"),
                    labels: labels,
                    buckets: Self.durationBuckets
                )
            )
            cache[key] = series
            return series
        }
    }

    /// A counter with the service label and `labels`.
    public func counter(_ name: String, labels: [(String, String)] = [], help: String) -> Counter {
        self.registry.makeCounter(descriptor: Self.descriptor(name, help), labels: [("service", self.service)] + labels)
    }

    /// A duration histogram (seconds, ``durationBuckets``) with the service label and `labels`.
    public func durationHistogram(_ name: String, labels: [(String, String)] = [], help: String) -> DurationHistogram {
        self.registry.makeDurationHistogram(
            descriptor: Self.descriptor(name, help),
            labels: [("service", self.service)] + labels,
            buckets: Self.durationBuckets
        )
    }

    /// A gauge with the service label and `labels`.
    public func gauge(_ name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        self.registry.makeGauge(descriptor: Self.descriptor(name, help), labels: [("service", self.service)] + labels)
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The exposition text: the registry plus process CPU, memory and file descriptors.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        self.registry.emit(into: &buffer)
        ProcessStats.current().write(into: &buffer)
        return buffer
    }
}

private struct HTTPSeriesKey: Hashable {
    let method: String
    let route: String
    let status: Int
}

/// `http_requests_total` and `http_request_duration_seconds` of one (method, route, status).
public struct HTTPRequestSeries: Sendable {
    let counter: Counter
    let histogram: DurationHistogram

    /// Counts one request that took `nanoseconds`.
    public func record(nanoseconds: Int64) {
        self.counter.increment()
        self.histogram.recordNanoseconds(nanoseconds)
    }
}

/// The container's resource limits, from the Downward API (`MEMORY_LIMIT_BYTES`, `CPU_LIMIT_MILLICORES`) or cgroup v2.
public struct ResourceLimits: Sendable, Equatable {
    public var memoryBytes: Double?
    public var cpuCores: Double?

    public init(memoryBytes: Double? = nil, cpuCores: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuCores = cpuCores
    }

    /// Reads the limits from settings first, then from `/sys/fs/cgroup`.
    public static func detect(settings: Settings) -> ResourceLimits {
        var limits = ResourceLimits()
        if let raw = settings["MEMORY_LIMIT_BYTES"], let value = Double(raw), value > 0 {
            limits.memoryBytes = value
        } else if let raw = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
            let value = Double(raw.trimmingWhitespace())
        {
            limits.memoryBytes = value
        }
        if let raw = settings["CPU_LIMIT_MILLICORES"], let value = Double(raw), value > 0 {
            limits.cpuCores = value / 1000
        } else if let raw = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8) {
            let parts = raw.trimmingWhitespace().split(separator: " ")
            if parts.count == 2, let quota = Double(parts[0]), let period = Double(parts[1]), period > 0 {
                limits.cpuCores = quota / period
            }
        }
        return limits
    }
}
