import NIOCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The CPUs this process may run on, and the event-loop sizing that follows from them.
///
/// SwiftNIO sizes its shared event-loop group (the one Hummingbird and postgres-nio use) from `System.coreCount`,
/// which honours cgroup CPU quotas but not the affinity mask. A replica confined to fewer CPUs (`taskset`, Docker
/// `--cpuset-cpus`, a Kubernetes static CPU-manager pod) then runs more loop threads than CPUs, and a request that
/// crosses loops — an HTTP connection on one, its database connection on another — pays a context switch at each
/// crossing. Measured with `bookstore serve users` pinned to one CPU of two, GET /api/users/{id} (two queries): 180 µs
/// of CPU per request with two loops, 165 with one.
public enum ProcessCPUs {
    /// The CPUs in this process's affinity mask (`Cpus_allowed` in `/proc/self/status`), capped by
    /// `System.coreCount`; `System.coreCount` where the mask cannot be read.
    public static var available: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }),
            let count = self.count(cpusAllowed: line.dropFirst("Cpus_allowed:".count))
        else { return System.coreCount }
        return min(count, System.coreCount)
    }

    /// The CPUs set in a `Cpus_allowed` mask: hexadecimal digits in comma-separated 32-bit groups
    /// (`ffffffff,00000003`); `nil` when it is not one or names no CPU.
    public static func count(cpusAllowed mask: Substring) -> Int? {
        var count = 0
        var digits = 0
        for character in mask where !character.isWhitespace && character != "," {
            guard let value = character.hexDigitValue else { return nil }
            count += value.nonzeroBitCount
            digits += 1
        }
        return digits > 0 && count > 0 ? count : nil
    }

    /// How many loops NIO's shared group should have: `available` when it is below NIO's own choice
    /// (`coreCount`), `nil` to leave NIO's choice, which an explicit `NIO_SINGLETON_GROUP_LOOP_COUNT` also keeps.
    public static func sharedLoopCount(environment: [String: String], available: Int, coreCount: Int) -> Int? {
        guard environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil, available >= 1, available < coreCount else { return nil }
        return available
    }

    private static let sized = Atomic(false)

    /// Sizes NIO's shared event-loop group to the CPUs this process may run on (see ``sharedLoopCount(environment:available:coreCount:)``).
    /// Call it first thing in a command, before anything uses the shared group; later calls do nothing (NIO accepts
    /// the size once).
    /// - Returns: the loop count set, or `nil` when NIO's own choice stands.
    @discardableResult
    public static func sizeSharedEventLoops(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        guard !self.sized.exchange(true, ordering: .relaxed) else { return nil }
        guard let count = self.sharedLoopCount(environment: environment, available: self.available, coreCount: System.coreCount) else {
            return nil
        }
        NIOSingletons.groupLoopCountSuggestion = count
        return count
    }
}
