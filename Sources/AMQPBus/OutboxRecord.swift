import BookstoreCore
import Foundation
import JSONKit

/// One outbox line: a message as a compact JSON object (the body in base64). The JSON writer escapes control
/// characters, so a record never contains a newline and the file is one record per line.
enum OutboxRecord {
    static let version = 1

    static func encode(_ message: EventMessage) -> [UInt8] {
        var headers = JSONObject()
        for (key, value) in message.headers.sorted(by: { $0.key < $1.key }) {
            headers[key] = .string(value)
        }
        let milliseconds = Int64((message.timestamp.timeIntervalSince1970 * 1000).rounded())
        let object: JSON = [
            "v": .int(self.version),
            "exchange": .string(message.exchange),
            "routingKey": .string(message.routingKey),
            "messageId": .string(message.messageID),
            "correlationId": .string(message.correlationID),
            "timestampMs": .int(milliseconds),
            "contentType": .string(message.contentType),
            "replyTo": .optional(message.replyTo),
            "headers": .object(headers),
            "body": .string(Data(message.body).base64EncodedString()),
        ]
        return object.bytes
    }

    /// The message of a line, or nil when the line is not a complete record.
    static func decode(_ line: some Collection<UInt8>) -> EventMessage? {
        guard let json = try? JSON.parse(line), json["v"]?.intValue == self.version,
            let exchange = json["exchange"]?.stringValue,
            let routingKey = json["routingKey"]?.stringValue,
            let messageID = json["messageId"]?.stringValue,
            let correlationID = json["correlationId"]?.stringValue,
            let milliseconds = json["timestampMs"]?.intValue,
            let contentType = json["contentType"]?.stringValue,
            let headerObject = json["headers"]?.objectValue,
            let bodyText = json["body"]?.stringValue,
            let body = Data(base64Encoded: bodyText)
        else { return nil }
        var headers: [String: String] = [:]
        for (key, value) in headerObject {
            guard let text = value.stringValue else { return nil }
            headers[key] = text
        }
        return EventMessage(
            exchange: exchange,
            routingKey: routingKey,
            body: Array(body),
            messageID: messageID,
            correlationID: correlationID,
            timestamp: Date(timeIntervalSince1970: Double(milliseconds) / 1000),
            contentType: contentType,
            replyTo: json["replyTo"]?.stringValue,
            headers: headers
        )
    }
}
