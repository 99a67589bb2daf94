import Foundation

/// CPU time, resident memory and open descriptors of this process, read from `/proc/self`.
struct ProcessStats {
    var cpuSeconds: Double = 0
    var residentBytes: Double = 0
    var virtualBytes: Double = 0
    var startTimeSeconds: Double = 0
    var openFileDescriptors: Double = 0

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
    static let bootTime: Double = {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }()

    static func current() -> ProcessStats {
        var stats = ProcessStats()
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command name, starting at field 3 (state).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 22 {
                let user = Double(fields[11]) ?? 0
                let system = Double(fields[12]) ?? 0
                stats.cpuSeconds = (user + system) / ticksPerSecond
                stats.startTimeSeconds = bootTime + (Double(fields[19]) ?? 0) / ticksPerSecond
                stats.virtualBytes = Double(fields[20]) ?? 0
                stats.residentBytes = (Double(fields[21]) ?? 0) * pageSize
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            stats.openFileDescriptors = Double(entries.count)
        }
        return stats
    }

    func write(into buffer: inout [UInt8]) {
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
            buffer.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
        }
        metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", self.cpuSeconds)
        metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", self.residentBytes)
        metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", self.virtualBytes)
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", self.startTimeSeconds)
        metric("process_open_fds", "gauge", "Number of open file descriptors.", self.openFileDescriptors)
    }
}
