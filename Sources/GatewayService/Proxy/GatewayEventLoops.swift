import NIOCore
import NIOPosix
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The event loops the gateway serves on (the proxy runs each request on its client connection's loop).
///
/// `GATEWAY_EVENT_LOOPS` threads, by default one per CPU this process may run on: NIO's shared group sizes itself
/// from the machine's CPUs (or cgroup quota), so a gateway pinned to fewer CPUs (`taskset`, cpusets) would otherwise
/// run more loop threads than CPUs and pay for a context switch on many requests. Groups are process-wide, one per
/// size, and never shut down (like NIO's shared group).
enum GatewayEventLoops {
    private static let groups = Mutex<[Int: MultiThreadedEventLoopGroup]>([:])

    static func group(threads: Int?) -> MultiThreadedEventLoopGroup {
        let count = threads ?? self.availableCPUs
        if count == System.coreCount { return .singleton }
        return self.groups.withLock { groups in
            if let group = groups[count] { return group }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: count)
            groups[count] = group
            return group
        }
    }

    /// The CPUs in this process's affinity mask (`Cpus_allowed` in `/proc/self/status`), capped by
    /// `System.coreCount` (which honours cgroup CPU quotas).
    static var availableCPUs: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return System.coreCount }
        let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
            count + (character.hexDigitValue?.nonzeroBitCount ?? 0)
        }
        return count > 0 ? min(count, System.coreCount) : System.coreCount
    }
}
