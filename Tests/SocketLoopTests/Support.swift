#if os(Linux)
import NIOCore
import SocketLoop

/// A value produced on the loop once, awaitable from outside it (a promise made only when someone waits, so that
/// nothing is left unfulfilled when nobody does).
final class Signal<Value: Sendable>: @unchecked Sendable {
    private var promise: EventLoopPromise<Value>?
    private var value: Value?

    func fire(_ value: Value) {
        guard self.value == nil else { return }
        self.value = value
        promise?.succeed(value)
    }

    func futureResult(on loop: SocketEventLoop) -> EventLoopFuture<Value> {
        loop.flatSubmit {
            if let value = self.value { return loop.makeSucceededFuture(value) }
            let promise = self.promise ?? loop.makePromise()
            self.promise = promise
            return promise.futureResult
        }
    }
}
#endif
