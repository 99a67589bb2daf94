import NIOCore

/// A request definition turned into bytes: fully pre-encoded when nothing varies, otherwise a head template and a body
/// template rendered per request. A class, so the hot path passes one reference instead of copying fields.
final class CompiledRequest: Sendable {
    let name: String
    let isHeadRequest: Bool
    let expected: ExpectedStatuses
    /// The whole request, when it never changes.
    let prebuilt: ByteBuffer?
    /// Request line and headers, each line ending in CRLF, without the final blank line.
    let head: Template
    let body: Template?
    /// Whether to send `Content-Length: 0` when there is no body.
    let sendsEmptyLength: Bool
    /// Whether the method is idempotent (RFC 9110 §9.2.2), so that sending it twice is safe.
    let isIdempotent: Bool

    init(_ definition: RequestDefinition, baseURL: BaseURL, defaultHeaders: [HeaderField], variables: [String: String]) throws(ScenarioError) {
        let method = definition.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw ScenarioError("request '\(definition.name)': invalid method '\(definition.method)'")
        }
        name = definition.name
        isHeadRequest = method == "HEAD"
        expected = definition.expectedStatuses
        sendsEmptyLength = ["POST", "PUT", "PATCH"].contains(method)
        isIdempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].contains(method)

        func resolve(_ template: Template) throws(ScenarioError) -> Template {
            do {
                return try template.resolving(variables)
            } catch {
                throw ScenarioError("request '\(definition.name)': \(error)")
            }
        }
        let path = try resolve(definition.path)
        if let first = path.source.first, first != "/", !path.source.hasPrefix("{{") {
            throw ScenarioError("request '\(definition.name)': path '\(path.source)' must start with '/'")
        }
        var headers: [(String, Template)] = []
        var seen = Set<String>()
        for header in definition.headers + defaultHeaders {
            let lower = header.name.lowercased()
            guard !lower.isEmpty, header.name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                throw ScenarioError("request '\(definition.name)': invalid header name '\(header.name)'")
            }
            guard !["host", "content-length", "transfer-encoding"].contains(lower) else {
                throw ScenarioError("request '\(definition.name)': header '\(header.name)' is set by loadtest itself")
            }
            guard seen.insert(lower).inserted else { continue }
            headers.append((header.name, try resolve(header.value)))
        }
        for template in [path] + headers.map(\.1) {
            for part in template.parts {
                if case .literal(let text) = part, text.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
                    throw ScenarioError("request '\(definition.name)': a header value or the path contains a line break")
                }
            }
        }
        var head = Template.literal("\(method) \(baseURL.pathPrefix)") + path + Template.literal(" HTTP/1.1\r\nHost: \(baseURL.hostHeader)\r\n")
        for (name, value) in headers { head = head + Template.literal("\(name): ") + value + Template.literal("\r\n") }
        self.head = head
        let body = try definition.body.map { (template) throws(ScenarioError) in try resolve(template) }
        self.body = body

        if head.isConstant, body?.isConstant ?? true {
            var context = TemplateContext(random: FastRandom(seed: 0))
            var bodyBuffer = ByteBufferAllocator().buffer(capacity: 0)
            body?.render(into: &bodyBuffer, context: &context)
            prebuilt = CompiledRequest.encode(
                head: head,
                body: body == nil ? nil : bodyBuffer,
                sendsEmptyLength: sendsEmptyLength,
                context: &context,
                allocator: ByteBufferAllocator()
            )
        } else {
            prebuilt = nil
        }
    }

    /// The bytes for one request.
    @inline(__always)
    func encode(context: inout TemplateContext, allocator: ByteBufferAllocator, scratch: inout ByteBuffer) -> ByteBuffer {
        if let prebuilt { return prebuilt }
        if let body {
            scratch.clear()
            body.render(into: &scratch, context: &context)
            return CompiledRequest.encode(head: head, body: scratch, sendsEmptyLength: sendsEmptyLength, context: &context, allocator: allocator)
        }
        return CompiledRequest.encode(head: head, body: nil, sendsEmptyLength: sendsEmptyLength, context: &context, allocator: allocator)
    }

    private static func encode(
        head: Template,
        body: ByteBuffer?,
        sendsEmptyLength: Bool,
        context: inout TemplateContext,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: head.source.utf8.count + 64 + (body?.readableBytes ?? 0))
        head.render(into: &buffer, context: &context)
        if let body {
            buffer.writeStaticString("Content-Length: ")
            Template.writeInteger(body.readableBytes, into: &buffer)
            buffer.writeStaticString("\r\n\r\n")
            buffer.writeImmutableBuffer(body)
        } else if sendsEmptyLength {
            buffer.writeStaticString("Content-Length: 0\r\n\r\n")
        } else {
            buffer.writeStaticString("\r\n")
        }
        return buffer
    }
}

/// The immutable plan all event loops share.
final class CompiledPlan: Sendable {
    let configuration: LoadConfiguration
    let requests: [CompiledRequest]
    /// Cumulative weights, for picking a request with one random draw.
    let cumulativeWeights: [UInt64]
    let totalWeight: UInt64
    let address: SocketAddress
    let schedule: ArrivalSchedule?
    let durationNanoseconds: UInt64
    let timeoutNanoseconds: UInt64
    let lateNanoseconds: UInt64
    let timelineIntervalNanoseconds: UInt64
    let timelineBuckets: Int

    init(_ configuration: LoadConfiguration, address: SocketAddress) throws(ScenarioError) {
        try configuration.validate()
        self.configuration = configuration
        var compiled: [CompiledRequest] = []
        for request in configuration.requests {
            compiled.append(
                try CompiledRequest(
                    request,
                    baseURL: configuration.baseURL,
                    defaultHeaders: configuration.defaultHeaders,
                    variables: configuration.variables
                )
            )
        }
        requests = compiled
        var running: UInt64 = 0
        cumulativeWeights = configuration.requests.map { request in
            running += UInt64(max(0, request.weight))
            return running
        }
        totalWeight = running
        self.address = address
        durationNanoseconds = configuration.duration.nanosecondsClamped
        timeoutNanoseconds = configuration.requestTimeout.nanosecondsClamped
        lateNanoseconds = configuration.lateSendThreshold.nanosecondsClamped
        if case .open(let rate, _) = configuration.model {
            schedule = ArrivalSchedule(rate: rate, duration: configuration.duration)
        } else {
            schedule = nil
        }
        timelineIntervalNanoseconds = max(1_000_000, configuration.effectiveTimelineInterval.nanosecondsClamped)
        let span = durationNanoseconds + timeoutNanoseconds + 1_000_000_000
        timelineBuckets = Int(span / timelineIntervalNanoseconds) + 2
    }

    /// Picks a request index by weight.
    @inline(__always)
    func pickRequest(_ random: inout FastRandom) -> Int {
        if cumulativeWeights.count == 1 { return 0 }
        let draw = random.below(totalWeight)
        var index = 0
        while cumulativeWeights[index] <= draw { index += 1 }
        return index
    }

    /// The requests the schedule calls for, capped by the request limit.
    var arrivalLimit: Int {
        min(schedule?.totalArrivals ?? 0, configuration.maxRequests)
    }
}
