import Foundation

/// A message on the event bus, with the properties every bookstore message carries (SPEC §6).
public struct EventMessage: Sendable, Equatable {
    /// The exchange it is published to; empty for the default exchange (routing key = queue name).
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var messageID: String
    public var correlationID: String
    public var timestamp: Date
    public var contentType: String
    public var replyTo: String?
    /// Application headers: `X-Request-ID`, `traceparent`, `x-attempt` and the like.
    public var headers: [String: String]

    public init(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        messageID: String = UUID().lowercasedText,
        correlationID: String? = nil,
        timestamp: Date = Date(),
        contentType: String = "application/json",
        replyTo: String? = nil,
        headers: [String: String] = [:]
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.messageID = messageID
        self.correlationID = correlationID ?? messageID
        self.timestamp = timestamp
        self.contentType = contentType
        self.replyTo = replyTo
        self.headers = headers
    }

    /// The delivery attempt (1 for the first delivery), carried in the `x-attempt` header across retries.
    public var attempt: Int {
        get { self.headers["x-attempt"].flatMap(Int.init) ?? 1 }
        set { self.headers["x-attempt"] = String(newValue) }
    }

    public static let requestIDHeader = "X-Request-ID"
    public static let traceHeader = "traceparent"
}

/// A queue and the topic bindings that feed it.
public struct QueueSpec: Sendable, Equatable {
    public struct Binding: Sendable, Equatable {
        public var exchange: String
        public var pattern: String

        public init(exchange: String, pattern: String) {
            self.exchange = exchange
            self.pattern = pattern
        }
    }

    public var name: String
    public var bindings: [Binding]

    public init(name: String, bindings: [Binding]) {
        self.name = name
        self.bindings = bindings
    }

    /// The queue where messages that exhausted their retries are parked.
    public var deadLetterQueue: String { self.name + ".dlq" }
}

/// What a consumer decided about one delivery.
public enum DeliveryOutcome: Sendable, Equatable {
    /// Processed (or a duplicate): remove it.
    case ack
    /// Deliver it again to the same queue after `delay`, with its attempt count increased.
    case retry(after: Duration)
    /// Park it in the queue's dead-letter queue.
    case deadLetter(reason: String)
}

/// Topic routing as RabbitMQ does it: words separated by dots, `*` matches one word, `#` zero or more.
public enum TopicPattern {
    public static func matches(pattern: String, routingKey: String) -> Bool {
        let patternWords = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let keyWords = routingKey.split(separator: ".", omittingEmptySubsequences: false)
        return match(patternWords[...], keyWords[...])
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ key: ArraySlice<Substring>) -> Bool {
        guard let first = pattern.first else { return key.isEmpty }
        if first == "#" {
            let rest = pattern.dropFirst()
            var index = key.startIndex
            while true {
                if match(rest, key[index...]) { return true }
                if index == key.endIndex { return false }
                index += 1
            }
        }
        guard let word = key.first else { return false }
        guard first == "*" || first == word else { return false }
        return match(pattern.dropFirst(), key.dropFirst())
    }
}
