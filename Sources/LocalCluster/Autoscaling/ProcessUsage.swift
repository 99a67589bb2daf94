import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/statm`: what the
/// kubelet's cAdvisor reports for a container, here for one replica process.
public struct ProcessUsage: Sendable, Equatable {
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    public var residentBytes: Double

    public init(cpuSeconds: Double, residentBytes: Double) {
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
    }

    /// Nil when the process is gone or `/proc` is unreadable.
    public static func read(pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let statm = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8)
        else { return nil }
        return self.parse(
            stat: stat,
            statm: statm,
            ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))),
            pageSize: Double(sysconf(Int32(_SC_PAGESIZE)))
        )
    }

    /// `stat`: the command name sits in parentheses and may hold spaces, so fields are counted after the last `)`;
    /// utime and stime are fields 14 and 15. `statm`: resident pages are the second field.
    static func parse(stat: String, statm: String, ticksPerSecond: Double, pageSize: Double) -> ProcessUsage? {
        guard let close = stat.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field n is fields[n - 3].
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let pages = statm.split(separator: " ")
        guard pages.count > 1, let resident = Double(pages[1]) else { return nil }
        return ProcessUsage(cpuSeconds: (user + system) / ticksPerSecond, residentBytes: resident * pageSize)
    }
}

/// Turns successive `ProcessUsage` readings into the rates a metrics server serves: CPU cores used over the window
/// since the previous reading of the same process, and the latest resident memory.
struct UsageSampler {
    struct Reading {
        var pid: Int32
        var at: ContinuousClock.Instant
        var usage: ProcessUsage
    }

    private var previous: [String: Reading] = [:]

    /// `(cpu cores, memory bytes)` for a pod, or nil on its first reading (no window yet) or when it is unreadable.
    mutating func sample(
        pod: String,
        pid: Int32,
        now: ContinuousClock.Instant,
        read: (Int32) -> ProcessUsage?
    ) -> (cpuCores: Double, memoryBytes: Double)? {
        guard let usage = read(pid) else {
            self.previous[pod] = nil
            return nil
        }
        defer { self.previous[pod] = Reading(pid: pid, at: now, usage: usage) }
        guard let last = self.previous[pod], last.pid == pid else { return nil }
        let elapsed = (now - last.at).asSeconds
        guard elapsed > 0 else { return nil }
        return (max(0, usage.cpuSeconds - last.usage.cpuSeconds) / elapsed, usage.residentBytes)
    }

    /// Forgets pods that no longer exist.
    mutating func retain(pods: Set<String>) {
        self.previous = self.previous.filter { pods.contains($0.key) }
    }
}

extension Duration {
    var asSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
