import Testing

@testable import GatewayService

/// The transitions of a client connection, without a channel: each event's action and the state it leaves.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    func machine(
        _ responder: Machine.Responder,
        bodyComplete: Bool,
        keepAlive: Bool = true,
        versionMinor: Int = 1
    ) -> Machine {
        var machine = Machine()
        machine.requestHeadReceived(isKeepAlive: keepAlive, versionMinor: versionMinor, isBodyComplete: bodyComplete, responder: responder)
        return machine
    }

    @Test func aKeepAliveProxiedRequestReturnsToIdle() {
        var machine = Machine()
        #expect(machine.state == .idle && machine.inputAction == .parseHead)
        machine.requestHeadReceived(isKeepAlive: true, versionMinor: 1, isBodyComplete: false, responder: .proxy)
        #expect(machine.state == .streamingBody(.proxy) && machine.isProxying && machine.inputAction == .takeBody(.proxy))
        #expect(machine.readDecision(pendingBytes: 0) == .ifExchangeWantsBody, "the body is read as fast as the upstream takes it")
        #expect(machine.requestBodyEnded() == .endUpstreamRequest)
        #expect(machine.state == .awaitingResponse(.proxy) && machine.inputAction == .wait, "a pipelined request waits")
        let head = machine.upstreamResponseHeadReceived(hasBody: true, contentLength: 5, isChunked: false)
        #expect(!head.forwardsChunked && head.connection == .none)
        #expect(machine.responseEnded(closeConnection: false) == .takeNextRequest)
        machine.requestCompleted()
        #expect(machine.state == .idle && !machine.mustClose)
    }

    @Test func pipelinedBytesAreHeldBackOnlyPastTheLimit() {
        for responder in [Machine.Responder.proxy, .router] {
            let machine = self.machine(responder, bodyComplete: true)
            #expect(machine.readDecision(pendingBytes: 0) == .read, "reading goes on, so that a close is noticed")
            #expect(machine.readDecision(pendingBytes: Machine.pendingLimit - 1) == .read)
            #expect(machine.readDecision(pendingBytes: Machine.pendingLimit) == .hold)
        }
        #expect(self.machine(.router, bodyComplete: false).readDecision(pendingBytes: Machine.pendingLimit) == .read)
        var closing = Machine()
        closing.closing()
        #expect(closing.readDecision(pendingBytes: 0) == .hold && closing.inputAction == .discard)
    }

    @Test func anEarlyAnswerDrainsTheRestOfTheBody() {
        var machine = self.machine(.proxy, bodyComplete: false)
        #expect(machine.responseEnded(closeConnection: false) == .drain)
        machine.drainingStarted()
        #expect(machine.state == .draining && machine.inputAction == .takeBody(.gateway) && !machine.isProxying)
        #expect(machine.readDecision(pendingBytes: Machine.pendingLimit) == .read)
        #expect(machine.requestBodyEnded() == .takeNextRequest)
        var refused = self.machine(.gateway, bodyComplete: false)
        #expect(refused.responseEnded(closeConnection: false) == .drain)
        var refusedWhole = self.machine(.gateway, bodyComplete: true)
        #expect(refusedWhole.responseEnded(closeConnection: false) == .takeNextRequest)
    }

    @Test(arguments: [
        (keepAlive: true, versionMinor: 1, closeConnection: false, close: false, field: ResponseHead.ConnectionField.none),
        (keepAlive: true, versionMinor: 0, closeConnection: false, close: false, field: .keepAlive),
        (keepAlive: false, versionMinor: 1, closeConnection: false, close: true, field: .close),
        (keepAlive: false, versionMinor: 0, closeConnection: false, close: true, field: .close),
        (keepAlive: true, versionMinor: 1, closeConnection: true, close: true, field: .close),
    ])
    func responsesCloseAsTheRequestAsks(
        _ testCase: (keepAlive: Bool, versionMinor: Int, closeConnection: Bool, close: Bool, field: ResponseHead.ConnectionField)
    ) {
        var machine = self.machine(.gateway, bodyComplete: true, keepAlive: testCase.keepAlive, versionMinor: testCase.versionMinor)
        let response = machine.responseClosing(closeConnection: testCase.closeConnection)
        #expect(response.close == testCase.close && response.connection == testCase.field)
        let action = machine.responseEnded(closeConnection: testCase.closeConnection)
        #expect(action == (testCase.close ? .closeAfterWrite : .takeNextRequest))
        #expect((machine.state == .closing) == testCase.close)
    }

    @Test func aResponseWithoutDelimiterClosesTheConnection() {
        var http10 = self.machine(.proxy, bodyComplete: true, versionMinor: 0)
        let chunked = http10.upstreamResponseHeadReceived(hasBody: true, contentLength: nil, isChunked: true)
        #expect(!chunked.forwardsChunked && chunked.connection == .close, "an HTTP/1.0 client cannot read chunked")
        #expect(http10.responseEnded(closeConnection: false) == .closeAfterWrite)
        var http11 = self.machine(.proxy, bodyComplete: true)
        let forwarded = http11.upstreamResponseHeadReceived(hasBody: true, contentLength: nil, isChunked: true)
        #expect(forwarded.forwardsChunked && forwarded.connection == .none)
        var untilClose = self.machine(.proxy, bodyComplete: true)
        #expect(untilClose.upstreamResponseHeadReceived(hasBody: true, contentLength: nil, isChunked: false).connection == .close)
        var noBody = self.machine(.proxy, bodyComplete: true)
        #expect(noBody.upstreamResponseHeadReceived(hasBody: false, contentLength: nil, isChunked: false).connection == .none)
    }

    @Test func theRouterFinishesItsRequestInEitherOrder() {
        var bodyFirst = self.machine(.router, bodyComplete: false)
        #expect(bodyFirst.isDelegated && bodyFirst.inputAction == .takeBody(.router))
        #expect(bodyFirst.requestBodyEnded() == .none && bodyFirst.state == .awaitingResponse(.router))
        #expect(bodyFirst.routerResponseEnded() == .takeNextRequest)
        var responseFirst = self.machine(.router, bodyComplete: false)
        #expect(responseFirst.routerResponseEnded() == .none && responseFirst.state == .routerFinishingBody)
        #expect(responseFirst.inputAction == .takeBody(.router), "the rest of the body still goes to the router")
        #expect(responseFirst.requestBodyEnded() == .takeNextRequest)
        var proxied = self.machine(.proxy, bodyComplete: true)
        #expect(proxied.routerResponseEnded() == .none && proxied.state == .awaitingResponse(.proxy), "not the router's request")
    }

    @Test func aMalformedHeadIsAnsweredAndTheConnectionClosed() {
        var machine = self.machine(.gateway, bodyComplete: true, versionMinor: 0)
        _ = machine.responseEnded(closeConnection: false)
        machine.requestCompleted()
        #expect(machine.requestMalformed(responseStarted: false) == .respondAndClose)
        #expect(machine.versionMinor == 1, "nothing is known of the request")
        let response = machine.responseClosing(closeConnection: true)
        #expect(response.close && response.connection == .close)
        #expect(machine.responseEnded(closeConnection: true) == .closeAfterWrite && machine.state == .closing)
    }

    @Test func aMalformedBodyIsAnsweredOnlyBeforeAResponse() {
        var proxied = self.machine(.proxy, bodyComplete: false)
        #expect(proxied.requestMalformed(responseStarted: false) == .respondAndClose && proxied.state == .draining)
        var started = self.machine(.proxy, bodyComplete: false)
        #expect(started.requestMalformed(responseStarted: true) == .close, "the head is out: the response is cut off")
        var router = self.machine(.router, bodyComplete: false)
        #expect(router.requestMalformed(responseStarted: false) == .close)
        var draining = self.machine(.proxy, bodyComplete: false)
        _ = draining.responseEnded(closeConnection: false)
        draining.drainingStarted()
        #expect(draining.requestMalformed(responseStarted: true) == .close)
    }

    @Test func aBodyOverTheLimitIsAnsweredUnlessTheResponseStarted() {
        var before = self.machine(.proxy, bodyComplete: false)
        #expect(before.requestBodyTooLarge(responseStarted: false) == .respondAndClose && before.state == .draining)
        var after = self.machine(.proxy, bodyComplete: false)
        #expect(after.requestBodyTooLarge(responseStarted: true) == .close)
    }

    @Test func aHalfCloseEndsTheConnectionUnlessTheRequestIsComplete() {
        var idle = Machine()
        #expect(idle.inputClosed() == .close && idle.state == .closing)
        var streaming = self.machine(.proxy, bodyComplete: false)
        #expect(streaming.inputClosed() == .cancelExchangeAndClose && streaming.state == .closing)
        var awaiting = self.machine(.proxy, bodyComplete: true)
        #expect(awaiting.inputClosed() == .none && awaiting.state == .awaitingResponse(.proxy) && awaiting.closesAfterResponse)
        #expect(awaiting.responseEnded(closeConnection: false) == .closeAfterWrite, "the response is sent, then the connection closes")
        var draining = self.machine(.proxy, bodyComplete: false)
        _ = draining.responseEnded(closeConnection: false)
        draining.drainingStarted()
        #expect(draining.inputClosed() == .close)
        for state in [true, false] {
            var router = self.machine(.router, bodyComplete: state)
            #expect(router.inputClosed() == .forwardToRouter && router.isDelegated, "the router's side hears of it")
        }
        var closing = Machine()
        closing.closing()
        #expect(closing.inputClosed() == .none)
    }

    @Test func aShutdownClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirResponse() {
        var idle = Machine()
        #expect(idle.shouldQuiesce(hasPendingBytes: false) == .close && idle.state == .closing)
        var arriving = Machine()
        #expect(arriving.shouldQuiesce(hasPendingBytes: true) == .none && arriving.closesAfterResponse && arriving.state == .idle)
        var proxied = self.machine(.proxy, bodyComplete: true)
        #expect(proxied.shouldQuiesce(hasPendingBytes: false) == .none && proxied.mustClose)
        #expect(proxied.responseEnded(closeConnection: false) == .closeAfterWrite)
        var router = self.machine(.router, bodyComplete: true)
        #expect(router.shouldQuiesce(hasPendingBytes: false) == .forwardToRouter)
        #expect(router.routerResponseEnded() == .none && router.state == .closing, "the router's handler closes after its response")
    }

    @Test func errorsCloseUnlessTheRouterHandlesTheRequest() {
        var proxied = self.machine(.proxy, bodyComplete: true)
        #expect(proxied.errorCaught() == .cancelExchangeAndClose && proxied.state == .closing)
        var router = self.machine(.router, bodyComplete: false)
        #expect(router.errorCaught() == .forwardToRouter && router.isDelegated)
        var idle = Machine()
        #expect(idle.errorCaught() == .close)
    }

    @Test func anInactiveConnectionCancelsItsExchange() {
        var proxied = self.machine(.proxy, bodyComplete: true)
        #expect(proxied.channelInactive() == .cancelExchange(recordClientClosed: true) && proxied.state == .closing)
        var answered = self.machine(.proxy, bodyComplete: true)
        _ = answered.responseEnded(closeConnection: false)
        #expect(answered.channelInactive() == .cancelExchange(recordClientClosed: false), "a complete response is not a 499")
        var router = self.machine(.router, bodyComplete: true)
        #expect(router.channelInactive() == .none)
    }
}
