import BookstoreCore
import HTTPTypes
import HTTPWire
import Hummingbird
import NIOCore

/// The event-loop side of ``RouterProxy``: receives the exchange's response and hands it to the async side.
final class RouterBridge: ProxyExchangeDelegate {
    typealias Source = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, ProducerDelegate
    >.Source

    /// Resumes and stops reading the upstream as the response body's consumer asks.
    struct ProducerDelegate: NIOAsyncSequenceProducerDelegate {
        let eventLoop: any EventLoop
        let box: NIOLoopBoundBox<RouterBridge?>

        func produceMore() {
            let box = self.box
            self.eventLoop.execute { box.value?.exchange?.downstreamWritabilityChanged(isWritable: true) }
        }

        func didTerminate() {
            let box = self.box
            self.eventLoop.execute {
                if let exchange = box.value?.exchange, !exchange.isFinished { exchange.cancel() }
                box.value = nil
            }
        }
    }

    /// The response head for the router: status and the client's fields.
    struct Head: Sendable {
        let status: Int
        let reason: String
        let fields: [(String, String)]
    }

    var exchange: ProxyExchange?
    private let eventLoop: any EventLoop
    private let source: Source
    private var head: Result<Head, any Error>?
    private var headPromise: EventLoopPromise<Head>?
    private var demandPromise: EventLoopPromise<Bool>?

    init(source: Source, eventLoop: any EventLoop) {
        self.source = source
        self.eventLoop = eventLoop
    }

    /// Sends a body part; the future completes when the exchange wants more (true) or no longer wants the body.
    func send(_ chunk: ByteBuffer) -> EventLoopFuture<Bool> {
        guard let exchange, !exchange.isFinished else { return self.eventLoop.makeSucceededFuture(false) }
        exchange.receiveRequestBodyPart(chunk)
        if exchange.wantsRequestBody { return self.eventLoop.makeSucceededFuture(true) }
        let promise = self.eventLoop.makePromise(of: Bool.self)
        self.demandPromise = promise
        return promise.futureResult
    }

    func responseHead() -> EventLoopFuture<Head> {
        if let head = self.head { return self.eventLoop.makeCompletedFuture(head) }
        let promise = self.eventLoop.makePromise(of: Head.self)
        self.headPromise = promise
        return promise.futureResult
    }

    private func complete(_ head: Result<Head, any Error>) {
        self.head = head
        self.demandPromise?.succeed(false)
        self.demandPromise = nil
        if let promise = self.headPromise {
            self.headPromise = nil
            promise.completeWith(head)
        }
    }

    func exchangeDidReceiveHead(_ head: MessageHead) {
        guard let exchange else { return }
        var fields = ResponseHead.fields(head, requestID: exchange.requestID, allowOrigin: exchange.allowOrigin)
        if head.contentLength == nil || exchange.isHeadRequest {
            fields.removeAll { $0.0.lowercased() == "content-length" }
        }
        self.complete(.success(Head(status: head.status, reason: head.string(head.second), fields: fields)))
    }

    func exchangeDidReceiveBodyPart(_ buffer: ByteBuffer) {
        if case .stopProducing = self.source.yield(buffer) {
            self.exchange?.downstreamWritabilityChanged(isWritable: false)
        }
    }

    func exchangeShouldFlush() {}

    func exchangeDidFinish() {
        self.source.finish()
        self.demandPromise?.succeed(false)
        self.demandPromise = nil
    }

    func exchangeDidFail(_ error: APIError, responseStarted: Bool) {
        if responseStarted {
            self.source.finish(error)
        } else {
            self.source.finish()
            self.complete(.failure(error))
        }
    }

    func exchangeWantsRequestBody() {
        self.demandPromise?.succeed(true)
        self.demandPromise = nil
    }
}
