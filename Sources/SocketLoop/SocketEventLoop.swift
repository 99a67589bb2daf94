#if os(Linux)
import CEpoll
import Dispatch
import Glibc
import NIOCore
import Synchronization

/// One thread running an epoll loop: tasks and timers (an `EventLoop`, so that code written for SwiftNIO — promises,
/// futures, scheduled callbacks — runs on it unchanged), ``LoopSocket``s and ``LoopListener``s.
///
/// Its stored properties of trivial types (flags, counters, times, reference-free state machines) are
/// `@exclusivity(unchecked)`: the hot path reads and sets them many times per request, and the run-time exclusivity
/// check is a call each time. It can be skipped for them because an overlapping access could not corrupt memory (they
/// hold no references) and nothing calls out while one of them is being modified in place (their types' mutating
/// methods are pure). Properties holding references keep the check.
public final class SocketEventLoop: EventLoop, @unchecked Sendable {
    private struct Timer {
        var deadline: UInt64
        var sequence: UInt64
        var entry: TimerEntry
    }

    private final class TimerEntry: @unchecked Sendable {
        let run: () -> Void
        var isCancelled = false
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private let name: String
    private let epollFD: Int32
    private let wakeFD: Int32
    private let threadID = Atomic<UInt>(0)
    private let incoming = Mutex<[@Sendable () -> Void]>([])
    private let wakeRequested = Atomic<Bool>(false)
    /// Whether `wakeFD` is closed (the loop ended): held while writing to it, so that no write reaches a file that
    /// reused its number.
    private let wakeClosed = Mutex<Bool>(false)
    private let shutdownCallbacks = Mutex<[(DispatchQueue, @Sendable ((any Error)?) -> Void)]>([])
    private let isStopped = Atomic<Bool>(false)

    // Loop thread only.
    /// Set by ``shutdownGracefully(queue:_:)``: the loop ends once its queued tasks ran (later ones never run), and
    /// closes the sockets still open without reporting them.
    @exclusivity(unchecked) private var stopRequested = false
    private var timers: [Timer] = []
    @exclusivity(unchecked) private var timerSequence: UInt64 = 0
    private var sockets: [LoopSocket?] = []
    private var listeners: [LoopListener] = []
    @exclusivity(unchecked) private var nextToken: UInt64 = 1
    private var connecting = RingBuffer<LoopSocket>()
    private var running: [() -> Void] = []
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
    private let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: 256)

    private static let wakeToken: UInt64 = 0
    /// Set in the epoll data of listeners (sockets' tokens stay below 2^32).
    private static let listenerFlag: UInt64 = 1 << 63
    private static let socketEvents = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue

    init(name: String) {
        self.name = name
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll_create1/eventfd failed: errno \(errno)")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0, "epoll_ctl failed: errno \(errno)")
        var thread = pthread_t()
        let started = pthread_create(
            &thread,
            nil,
            { argument in
                Unmanaged<SocketEventLoop>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            },
            Unmanaged.passRetained(self).toOpaque()
        )
        precondition(started == 0, "pthread_create failed: \(started)")
        pthread_detach(thread)
        // Tasks submitted before the thread runs wait in `incoming`; `inEventLoop` is false until then, as it should be.
    }

    deinit {
        readBuffer.deallocate()
        events.deallocate()
    }

    // MARK: EventLoop

    public var inEventLoop: Bool {
        let id = threadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(pthread_self(), pthread_t(id)) != 0
    }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        incoming.withLock { $0.append(task) }
        if !inEventLoop { wake() }
    }

    public func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let entry = TimerEntry {
            do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
        }
        let time = deadline.uptimeNanoseconds
        if inEventLoop {
            addTimer(entry, deadline: time)
        } else {
            execute { self.addTimer(entry, deadline: time) }
        }
        return Scheduled(promise: promise) {
            let cancel: @Sendable () -> Void = {
                guard !entry.isCancelled else { return }
                entry.isCancelled = true
                promise.fail(EventLoopError.cancelled)
            }
            if self.inEventLoop { cancel() } else { self.execute(cancel) }
        }
    }

    public func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    public func preconditionInEventLoop(file: StaticString, line: UInt) {
        precondition(inEventLoop, "not on the event loop", file: file, line: line)
    }

    public func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        precondition(!inEventLoop, "on the event loop", file: file, line: line)
    }

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let alreadyStopped = shutdownCallbacks.withLock { callbacks in
            if isStopped.load(ordering: .acquiring) { return true }
            callbacks.append((queue, callback))
            return false
        }
        if alreadyStopped {
            queue.async { callback(nil) }
            return
        }
        execute { self.stopRequested = true }
    }

    // MARK: Sockets

    /// Opens a connection to `address`; the outcome comes later, through `handler` (never from inside this call).
    public func connect(to address: SocketAddress, timeout: TimeAmount, handler: any LoopSocketHandler) {
        let (fd, family) = Self.streamSocket(for: address)
        let deadline = NIODeadline.now().uptimeNanoseconds &+ UInt64(max(0, timeout.nanoseconds))
        guard fd >= 0 else {
            // Out of descriptors: a connect failure, reported on the next iteration.
            let socket = LoopSocket(fd: -1, token: 0, loop: self, handler: handler, connectDeadline: deadline, remoteAddress: nil)
            socket.markClosed()
            running.append { [unowned(unsafe) self] in self.failConnect(socket) }
            return
        }
        if family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let result = Self.connect(fd, to: address)
        let token = takeToken()
        let socket = LoopSocket(fd: fd, token: token, loop: self, handler: handler, connectDeadline: deadline, remoteAddress: nil)
        if result != 0 && errno != EINPROGRESS {
            Glibc.close(fd)
            socket.markClosed()
            running.append { [unowned(unsafe) self] in self.failConnect(socket) }
            return
        }
        var event = epoll_event()
        event.events = Self.socketEvents
        event.data.u64 = token << 32 | UInt64(UInt32(fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            Glibc.close(fd)
            socket.markClosed()
            running.append { [unowned(unsafe) self] in self.failConnect(socket) }
            return
        }
        store(socket)
        // Connected or not, the first edge reports it (EPOLLOUT once established, EPOLLERR/EPOLLHUP on failure).
        connecting.append(socket)
    }

    /// `connect(2)` to `address`. IP addresses take a path specialized here: SocketAddress's own `withSockAddr` is
    /// generic and not inlinable, so each call ran unspecialized generic code (value witnesses and all), a measurable
    /// part of a load generator's user time against a server that closes every connection.
    private static func connect(_ fd: Int32, to address: SocketAddress) -> Int32 {
        switch address {
        case .v4(let address): connect(fd, to: address.address)
        case .v6(let address): connect(fd, to: address.address)
        case .unixDomainSocket: address.withSockAddr { pointer, size in Glibc.connect(fd, pointer, socklen_t(size)) }
        }
    }

    /// `connect(2)` to a `sockaddr_in` or `sockaddr_in6` (specialized for each: private to this module).
    private static func connect<Address>(_ fd: Int32, to address: Address) -> Int32 {
        var storage = address
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }

    /// A non-blocking, close-on-exec stream socket of `address`'s family (the descriptor is negative on failure).
    private static func streamSocket(for address: SocketAddress) -> (fd: Int32, family: Int32) {
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: family = AF_UNIX
        }
        return (Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), family)
    }

    /// Takes `socket` out of the descriptor table (if it is still the one there) and marks it closed.
    private func forget(_ socket: LoopSocket) {
        socket.markClosed()
        if Int(socket.fd) < sockets.count, sockets[Int(socket.fd)] === socket { sockets[Int(socket.fd)] = nil }
    }

    func close(_ socket: LoopSocket, notify: Bool) {
        guard socket.state != .closed else { return }
        let wasConnected = socket.state == .connected
        forget(socket)
        Glibc.close(socket.fd)
        let handler = socket.handler
        socket.handler = nil
        guard notify, let handler else { return }
        if wasConnected {
            handler.socketClosed(socket)
        } else {
            handler.socketConnectFailed(socket)
        }
    }

    func closeLater(_ socket: LoopSocket) {
        running.append { [unowned(unsafe) self] in self.close(socket, notify: true) }
    }

    private func failConnect(_ socket: LoopSocket) {
        let handler = socket.handler
        socket.handler = nil
        handler?.socketConnectFailed(socket)
    }

    private func handle(_ socket: LoopSocket, events: UInt32) {
        let failure = EPOLLERR.rawValue | EPOLLHUP.rawValue
        if socket.state == .connecting {
            if events & failure != 0 && events & EPOLLOUT.rawValue == 0 || events & EPOLLERR.rawValue != 0 {
                close(socket, notify: true)
                return
            }
            guard events & EPOLLOUT.rawValue != 0 else { return }
            socket.markConnected()
            socket.handler?.socketConnected(socket)
        }
        if socket.state == .connected, events & EPOLLOUT.rawValue != 0, !socket.awaitingFlush, var pending = socket.pending {
            socket.pending = nil
            if socket.writeSome(&pending) {
                if socket.closesWhenWritten {
                    close(socket, notify: true)
                    return
                }
                if socket.state == .connected { socket.handler?.socketWritable(socket) }
            } else {
                socket.pending = pending
            }
        }
        guard socket.state == .connected, events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failure) != 0 else { return }
        read(socket, events: events)
    }

    /// Reads what `events` announced, unless reading is paused (then it is kept for ``LoopSocket/resumeReading()``).
    func read(_ socket: LoopSocket, events: UInt32) {
        let failure = EPOLLERR.rawValue | EPOLLHUP.rawValue
        if socket.isInputClosed {
            // Nothing more to read; a failure (the peer reset, or both directions are shut) ends the connection.
            if events & failure != 0 { close(socket, notify: true) }
            return
        }
        if socket.readingPaused {
            socket.deferredReadEvents |= events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failure)
            return
        }
        // Edge-triggered: read until the kernel has nothing more; a short read means it is drained, unless the peer
        // also closed (then the end of stream must be read too).
        let drainsToEnd = events & (EPOLLRDHUP.rawValue | failure) != 0
        while socket.state == .connected {
            if socket.readingPaused {
                // Paused by the handler mid-read: what is left is read on resume.
                socket.deferredReadEvents |= events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failure) | EPOLLIN.rawValue
                return
            }
            let count = Glibc.read(socket.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                socket.handler?.socketReceived(socket, UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
                if count < readBuffer.count && !drainsToEnd { return }
            } else if count == 0 {
                if socket.allowsHalfClosure {
                    // The peer shut its sending side: the socket stays open for writing.
                    socket.isInputClosed = true
                    socket.handler?.socketInputClosed(socket)
                    return
                }
                close(socket, notify: true)
            } else {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return
                default: close(socket, notify: true)
                }
            }
        }
    }

    /// Sockets with coalesced writes to send at the end of this iteration.
    private var flushQueue: [LoopSocket] = []
    private var flushScratch: [LoopSocket] = []

    func flushAtEndOfIteration(_ socket: LoopSocket) {
        flushQueue.append(socket)
    }

    /// Sends the coalesced writes; what the kernel does not take waits for writability as any pending write.
    private func flushCoalesced() {
        guard !flushQueue.isEmpty else { return }
        swap(&flushQueue, &flushScratch)
        defer { flushScratch.removeAll(keepingCapacity: true) }
        for socket in flushScratch where socket.awaitingFlush {
            socket.awaitingFlush = false
            guard socket.state == .connected, var pending = socket.pending else { continue }
            socket.pending = nil
            if socket.writeSome(&pending) {
                if socket.closesWhenWritten {
                    close(socket, notify: true)
                } else if socket.state == .connected {
                    socket.handler?.socketWritable(socket)
                }
                continue
            }
            socket.pending = pending
        }
    }

    /// Runs `task` on the next loop iteration (on the loop only).
    func later(_ task: @escaping () -> Void) {
        running.append(task)
    }

    private func takeToken() -> UInt64 {
        let token = nextToken
        nextToken = nextToken == UInt64(UInt32.max) ? 1 : nextToken + 1
        return token
    }

    private func store(_ socket: LoopSocket) {
        let index = Int(socket.fd)
        if index >= sockets.count { sockets.append(contentsOf: repeatElement(nil, count: index + 1 - sockets.count + 64)) }
        sockets[index] = socket
    }

    func detach(_ socket: LoopSocket) -> Int32 {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, socket.fd, &event)
        forget(socket)
        socket.handler = nil
        return socket.fd
    }

    // MARK: Listeners

    /// Listens on `address` (`SO_REUSEADDR`; with `reusePort`, `SO_REUSEPORT` too, so that several loops can each
    /// listen on the same port and the kernel spreads connections among them). Call it on the loop.
    public func listen(
        on address: SocketAddress,
        backlog: Int32 = 511,
        reusePort: Bool = false,
        handler: any LoopListenerHandler
    ) throws -> LoopListener {
        preconditionInEventLoop()
        let (fd, family) = Self.streamSocket(for: address)
        guard fd >= 0 else { throw SocketLoopError(call: "socket", errno: errno) }
        func fail(_ call: String) -> SocketLoopError {
            let error = SocketLoopError(call: call, errno: errno)
            Glibc.close(fd)
            return error
        }
        var one: Int32 = 1
        if family != AF_UNIX {
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw fail("setsockopt(SO_REUSEADDR)")
            }
            if reusePort {
                guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                    throw fail("setsockopt(SO_REUSEPORT)")
                }
            }
        }
        guard address.withSockAddr({ Glibc.bind(fd, $0, socklen_t($1)) }) == 0 else { throw fail("bind") }
        guard Glibc.listen(fd, backlog) == 0 else { throw fail("listen") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw fail("getsockname") }
        let localAddress = Self.address(storage) ?? address
        let listener = LoopListener(fd: fd, token: takeToken(), loop: self, handler: handler, localAddress: localAddress)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLET.rawValue
        event.data.u64 = Self.listenerFlag | listener.token << 32 | UInt64(UInt32(fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw fail("epoll_ctl") }
        listeners.append(listener)
        return listener
    }

    func close(_ listener: LoopListener) {
        guard listener.isOpen else { return }
        listener.isOpen = false
        listeners.removeAll { $0 === listener }
        Glibc.close(listener.fd)
    }

    /// Accepts every connection waiting (edge-triggered: until `EAGAIN`).
    private func accept(_ listener: LoopListener) {
        while listener.isOpen {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listener.fd, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            guard fd >= 0 else {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: the connections wait in the backlog; try again shortly (the edge
                    // that announced them will not come again).
                    if !listener.acceptRetryScheduled {
                        listener.acceptRetryScheduled = true
                        addTimer(
                            TimerEntry { [unowned(unsafe) self] in
                                listener.acceptRetryScheduled = false
                                self.accept(listener)
                            },
                            deadline: NIODeadline.now().uptimeNanoseconds &+ 100_000_000
                        )
                    }
                    return
                default: return  // EAGAIN: drained
                }
            }
            let remote = Self.address(storage)
            if remote != nil {
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            let socket = LoopSocket(fd: fd, token: takeToken(), loop: self, handler: nil, connectDeadline: 0, remoteAddress: remote)
            socket.markConnected()
            var event = epoll_event()
            event.events = Self.socketEvents
            event.data.u64 = socket.token << 32 | UInt64(UInt32(fd))
            guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
                Glibc.close(fd)
                continue
            }
            store(socket)
            guard let handler = listener.handler.listenerAccepted(listener, socket) else {
                close(socket, notify: false)
                continue
            }
            if socket.state == LoopSocket.State.connected && socket.handler == nil { socket.handler = handler }
        }
    }

    private static func address(_ storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in.self), host: "") }
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: "") }
        default:
            return nil
        }
    }

    // MARK: Loop

    private func addTimer(_ entry: TimerEntry, deadline: UInt64) {
        timerSequence &+= 1
        timers.append(Timer(deadline: deadline, sequence: timerSequence, entry: entry))
        var child = timers.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.earlier(timers[child], timers[parent]) else { break }
            timers.swapAt(child, parent)
            child = parent
        }
    }

    private static func earlier(_ a: Timer, _ b: Timer) -> Bool {
        a.deadline < b.deadline || (a.deadline == b.deadline && a.sequence < b.sequence)
    }

    private func popTimer() -> Timer {
        let first = timers[0]
        let last = timers.removeLast()
        if !timers.isEmpty {
            timers[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < timers.count else { break }
                var child = left
                if left + 1 < timers.count, Self.earlier(timers[left + 1], timers[left]) { child = left + 1 }
                guard Self.earlier(timers[child], timers[parent]) else { break }
                timers.swapAt(child, parent)
                parent = child
            }
        }
        return first
    }

    private func wake() {
        guard !wakeRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Other threads may call this (through `execute`) after the loop ended and closed `wakeFD`.
        wakeClosed.withLock { closed in
            guard !closed else { return }
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    private func runTasks() -> Bool {
        swap(&running, &scratchTasks)
        let taken = incoming.withLock { tasks -> [@Sendable () -> Void] in
            let taken = tasks
            tasks.removeAll(keepingCapacity: true)
            return taken
        }
        var ran = false
        for task in scratchTasks {
            task()
            ran = true
        }
        scratchTasks.removeAll(keepingCapacity: true)
        for task in taken {
            task()
            ran = true
        }
        return ran
    }

    private var scratchTasks: [() -> Void] = []

    private func runDueTimers(now: UInt64) {
        while let first = timers.first, first.deadline <= now {
            let timer = popTimer()
            if !timer.entry.isCancelled {
                timer.entry.isCancelled = true
                timer.entry.run()
            }
        }
    }

    /// Fails connects past their deadline (they are queued in deadline order); returns the next deadline.
    private func expireConnects(now: UInt64) -> UInt64? {
        while let first = connecting.first {
            if first.state != .connecting {
                _ = connecting.popFirst()
                continue
            }
            if first.connectDeadline > now { return first.connectDeadline }
            _ = connecting.popFirst()
            close(first, notify: true)
        }
        return nil
    }

    private func run() {
        loadtest_set_thread_name(name)
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        while true {
            _ = runTasks()
            var now = NIODeadline.now().uptimeNanoseconds
            runDueTimers(now: now)
            let connectDeadline = expireConnects(now: now)
            flushCoalesced()
            if stopRequested && running.isEmpty && incoming.withLock({ $0.isEmpty }) { break }
            // Wait for I/O until the next timer or connect deadline, or not at all when tasks are queued.
            var next = timers.first?.deadline
            if let connectDeadline { next = min(next ?? connectDeadline, connectDeadline) }
            let hasTasks = !running.isEmpty || !incoming.withLock { $0.isEmpty }
            now = NIODeadline.now().uptimeNanoseconds
            var timeout: Int64 = 0
            if !hasTasks {
                if let next {
                    timeout = next > now ? Int64(clamping: next - now) : 0
                } else {
                    timeout = -1
                }
            }
            let count = loadtest_epoll_wait(epollFD, events, 256, timeout)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let event = events[index]
                let data = event.data.u64
                if data == Self.wakeToken {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, 8)
                    wakeRequested.store(false, ordering: .releasing)
                    continue
                }
                if data & Self.listenerFlag != 0 {
                    let token = (data & ~Self.listenerFlag) >> 32
                    if let listener = listeners.first(where: { $0.token == token }) { accept(listener) }
                    continue
                }
                let fd = Int(UInt32(truncatingIfNeeded: data))
                guard fd < sockets.count, let socket = sockets[fd], socket.token == data >> 32 else { continue }
                handle(socket, events: event.events)
            }
            flushCoalesced()
        }
        for case let socket? in sockets { close(socket, notify: false) }
        sockets.removeAll()
        for listener in listeners { close(listener) }
        Glibc.close(epollFD)
        wakeClosed.withLock { closed in
            Glibc.close(wakeFD)
            closed = true
        }
        // The thread ends: a later thread may get the same `pthread_t`, and must not count as this loop's.
        threadID.store(0, ordering: .releasing)
        let callbacks = shutdownCallbacks.withLock { callbacks in
            isStopped.store(true, ordering: .releasing)
            let taken = callbacks
            callbacks.removeAll()
            return taken
        }
        for (queue, callback) in callbacks { queue.async { callback(nil) } }
    }
}

#endif
