import BookstoreCore
import JSONKit
import Logging
import Testing

@Suite struct JSONLogHandlerTests {
    @Test func writesOneJSONObjectPerLineAndRedactsSecrets() throws {
        let sink = LogSink.capturing()
        var logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        logger[metadataKey: "request.id"] = "r-1"
        logger.info("hello", metadata: ["password": "hunter2", "user.id": "7"])
        let line = try #require(sink.capturedLines.first)
        let object = try JSON.parse(line)
        #expect(object["message"] == "hello")
        #expect(object["log.level"] == "info")
        #expect(object["service.name"] == "svc")
        #expect(object["request.id"] == "r-1")
        #expect(object["password"] == "[REDACTED]")
        #expect(object["user.id"] == "7")
        #expect(object["@timestamp"]?.stringValue.flatMap(Timestamp.parse) != nil)
        #expect(!line.contains("hunter2"))
    }
}
