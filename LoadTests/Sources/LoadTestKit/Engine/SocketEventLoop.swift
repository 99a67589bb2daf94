#if os(Linux)
import CEpoll
import Dispatch
import Glibc
import NIOCore
import Synchronization

/// Event loops of the engine's own (``LoadTransport/sockets``): one thread each, with non-blocking sockets on epoll.
///
/// A connection here costs what it costs the kernel and little more: `socket`, `setsockopt(TCP_NODELAY)`, `connect`,
/// one `epoll_ctl` (edge-triggered, for reading and writing at once, so that the loop never changes its interest),
/// `send`, `read`, `close`. SwiftNIO's channels pay for a bootstrap, a pipeline, a chain of futures and seven more system
/// calls per connection (address look-ups, `SO_ERROR`, interest changes), which doubled the load generator's CPU per
/// request against servers that close every connection.
final class SocketEventLoopGroup: EventLoopGroup, @unchecked Sendable {
    private let loops: [SocketEventLoop]
    private let counter = Atomic<Int>(0)

    init(numberOfThreads: Int) {
        loops = (0..<max(1, numberOfThreads)).map { SocketEventLoop(name: "loadtest-loop-\($0)") }
    }

    func next() -> any EventLoop {
        loops[counter.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    func any() -> any EventLoop {
        if let current = loops.first(where: { $0.inEventLoop }) { return current }
        return next()
    }

    func makeIterator() -> EventLoopIterator {
        EventLoopIterator(loops.map { $0 as any EventLoop })
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let group = DispatchGroup()
        for loop in loops {
            group.enter()
            loop.shutdownGracefully(queue: queue) { _ in group.leave() }
        }
        group.notify(queue: queue) { callback(nil) }
    }
}

/// What a ``LoopSocket`` reports, on its loop.
protocol LoopSocketHandler: AnyObject {
    /// The connection is established.
    func socketConnected(_ socket: LoopSocket)
    /// The connection could not be established (refused, unreachable, timed out); the socket is closed.
    func socketConnectFailed(_ socket: LoopSocket)
    /// Bytes arrived.
    func socketReceived(_ socket: LoopSocket, _ bytes: UnsafeRawBufferPointer)
    /// The connection closed (end of stream, an error, or ``LoopSocket/close()``); called once, after the fd is closed.
    func socketClosed(_ socket: LoopSocket)
}

/// A non-blocking TCP client socket of a ``SocketEventLoop``. Used on its loop only.
final class LoopSocket {
    enum State {
        case connecting
        case connected
        case closed
    }

    fileprivate let fd: Int32
    fileprivate let token: UInt64
    fileprivate unowned let loop: SocketEventLoop
    fileprivate var handler: (any LoopSocketHandler)?
    fileprivate var connectDeadline: UInt64
    /// Bytes not yet taken by the kernel (the send buffer was full).
    fileprivate var pending: ByteBuffer?
    private(set) fileprivate var state = State.connecting

    fileprivate init(fd: Int32, token: UInt64, loop: SocketEventLoop, handler: any LoopSocketHandler, connectDeadline: UInt64) {
        self.fd = fd
        self.token = token
        self.loop = loop
        self.handler = handler
        self.connectDeadline = connectDeadline
    }

    /// Whether the connection is established and not closed.
    var isActive: Bool { state == .connected }

    /// Writes `bytes` (what the kernel does not take now is written when the socket becomes writable). A write error
    /// closes the socket on the next loop iteration.
    func write(_ bytes: ByteBuffer) {
        guard state == .connected else { return }
        if pending != nil {
            pending!.writeImmutableBuffer(bytes)
            return
        }
        var bytes = bytes
        if writeSome(&bytes) { return }
        pending = bytes
    }

    /// Writes as much of `bytes` as the kernel takes; true when all of it was written or the socket failed.
    fileprivate func writeSome(_ bytes: inout ByteBuffer) -> Bool {
        while bytes.readableBytes > 0 {
            let written = bytes.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written >= 0 {
                bytes.moveReaderIndex(forwardBy: written)
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return false
            default:
                // Reported as a close, as a channel does; not from inside the caller's write.
                loop.closeLater(self)
                return true
            }
        }
        return true
    }

    /// Closes the socket and reports ``LoopSocketHandler/socketClosed(_:)`` (or nothing when it was never connected).
    func close() {
        loop.close(self, notify: true)
    }

    fileprivate func markClosed() {
        state = .closed
        pending = nil
    }

    fileprivate func markConnected() {
        state = .connected
    }
}

/// One thread running an epoll loop: tasks and timers (an `EventLoop`, so that the engine's workers, promises and
/// scheduled callbacks run on it unchanged) and ``LoopSocket``s.
final class SocketEventLoop: EventLoop, @unchecked Sendable {
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
    private var stopRequested = false
    private var timers: [Timer] = []
    private var timerSequence: UInt64 = 0
    private var sockets: [LoopSocket?] = []
    private var nextToken: UInt64 = 1
    private var connecting = RingBuffer<LoopSocket>()
    private var running: [() -> Void] = []
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
    private let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: 256)

    private static let wakeToken: UInt64 = 0
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

    var inEventLoop: Bool {
        let id = threadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(pthread_self(), pthread_t(id)) != 0
    }

    func execute(_ task: @escaping @Sendable () -> Void) {
        incoming.withLock { $0.append(task) }
        if !inEventLoop { wake() }
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
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

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func preconditionInEventLoop(file: StaticString, line: UInt) {
        precondition(inEventLoop, "not on the event loop", file: file, line: line)
    }

    func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        precondition(!inEventLoop, "on the event loop", file: file, line: line)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
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
    func connect(to address: SocketAddress, timeout: TimeAmount, handler: any LoopSocketHandler) {
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: family = AF_UNIX
        }
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let deadline = NIODeadline.now().uptimeNanoseconds &+ UInt64(max(0, timeout.nanoseconds))
        guard fd >= 0 else {
            // Out of descriptors: a connect failure, reported on the next iteration.
            let socket = LoopSocket(fd: -1, token: 0, loop: self, handler: handler, connectDeadline: deadline)
            socket.markClosed()
            running.append { [unowned(unsafe) self] in self.failConnect(socket) }
            return
        }
        if family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let result = address.withSockAddr { pointer, size in Glibc.connect(fd, pointer, socklen_t(size)) }
        let token = nextToken
        nextToken = nextToken == UInt64(UInt32.max) ? 1 : nextToken + 1
        let socket = LoopSocket(fd: fd, token: token, loop: self, handler: handler, connectDeadline: deadline)
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
        let index = Int(fd)
        if index >= sockets.count { sockets.append(contentsOf: repeatElement(nil, count: index + 1 - sockets.count + 64)) }
        sockets[index] = socket
        // Connected or not, the first edge reports it (EPOLLOUT once established, EPOLLERR/EPOLLHUP on failure).
        connecting.append(socket)
    }

    fileprivate func close(_ socket: LoopSocket, notify: Bool) {
        guard socket.state != .closed else { return }
        let wasConnected = socket.state == .connected
        socket.markClosed()
        if Int(socket.fd) < sockets.count, sockets[Int(socket.fd)] === socket { sockets[Int(socket.fd)] = nil }
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

    fileprivate func closeLater(_ socket: LoopSocket) {
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
        if socket.state == .connected, events & EPOLLOUT.rawValue != 0, var pending = socket.pending {
            socket.pending = nil
            if !socket.writeSome(&pending) { socket.pending = pending }
        }
        guard socket.state == .connected, events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failure) != 0 else { return }
        // Edge-triggered: read until the kernel has nothing more; a short read means it is drained, unless the peer
        // also closed (then the end of stream must be read too).
        let drainsToEnd = events & (EPOLLRDHUP.rawValue | failure) != 0
        while socket.state == .connected {
            let count = Glibc.read(socket.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                socket.handler?.socketReceived(socket, UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
                if count < readBuffer.count && !drainsToEnd { return }
            } else if count == 0 {
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
                let fd = Int(UInt32(truncatingIfNeeded: data))
                guard fd < sockets.count, let socket = sockets[fd], socket.token == data >> 32 else { continue }
                handle(socket, events: event.events)
            }
        }
        for case let socket? in sockets { close(socket, notify: false) }
        sockets.removeAll()
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
