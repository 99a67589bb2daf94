#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a port on 127.0.0.1 could not be taken.
public struct LoopbackPortError: Error, CustomStringConvertible {
    public let call: String
    public let code: CInt
    public var description: String { "\(self.call) failed with errno \(self.code)" }
}

/// A port on 127.0.0.1 that refuses connections for as long as the test process runs: a socket is bound to it and
/// never listens, and is deliberately never closed.
///
/// A port that a server used and released is not enough: tests run in parallel, and the next server to bind port 0
/// may be given it, so the "refused" address would answer and a stranger would get the test's requests.
public func refusingPort() throws -> Int {
    try bindWithoutListening(port: 0)
}

/// Takes `port` on 127.0.0.1 the same way (bound, never listening, never closed), so that it refuses connections from
/// now on; throws when something else holds it. For a test that released a port and must show it refuses: holding it
/// at once keeps another test's server from being given it in between.
public func holdRefusing(port: Int) throws {
    _ = try bindWithoutListening(port: port)
}

private func bindWithoutListening(port: Int) throws -> Int {
    let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LoopbackPortError(call: "socket", code: errno) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        let code = errno
        close(fd)
        throw LoopbackPortError(call: "bind", code: code)
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
