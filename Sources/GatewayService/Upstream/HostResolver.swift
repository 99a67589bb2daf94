import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves host names to IPv4 addresses with `getaddrinfo`, on NIO's blocking-I/O thread pool (never on an event
/// loop or a Swift concurrency thread).
struct HostResolver: Sendable {
    struct ResolutionError: Error, CustomStringConvertible {
        let host: String
        let code: Int32
        var description: String { "cannot resolve \(self.host): \(String(cString: gai_strerror(self.code)))" }
    }

    var threadPool: NIOThreadPool = .singleton

    /// Every distinct IPv4 address of `host` (one per A record), with `port`, in a stable order.
    func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        try await self.threadPool.runIfActive { try Self.lookup(host: host, port: port) }
    }

    static func lookup(host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &result)
        guard code == 0, let first = result else { throw ResolutionError(host: host, code: code) }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                let address = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                if !addresses.contains(address) { addresses.append(address) }
            }
            next = info.pointee.ai_next
        }
        return addresses.sorted { ($0.ipAddress ?? "") < ($1.ipAddress ?? "") }
    }
}
