import JSONKit
import Logging
import Testing

@testable import BookstoreCore

@Suite struct JSONLogHandlerTests {
    @Test(arguments: [
        ("password", true), ("user.Password", true), ("X-API-TOKEN", true), ("jwt_secret", true), ("Authorization", true),
        ("http.request.cookie", true), ("toke", false), ("passwor", false), ("http.route", false), ("", false),
        ("url.path", false), ("secre", false), ("SECRET", true),
    ])
    func secretLookingKeysAreFoundWhateverTheirCase(_ key: String, _ secret: Bool) {
        #expect(JSONLogHandler.isSecret(key) == secret)
    }

    @Test(arguments: [
        ("@timestamp", true), ("log.level", true), ("message", true), ("log.logger", true), ("log", false),
        ("messages", false), ("@other", false), ("url.path", false), ("", false),
    ])
    func fixedMemberKeysAreRecognised(_ key: String, _ fixed: Bool) {
        #expect(JSONLogHandler.isFixedKey(key) == fixed)
    }

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

    @Test func writesTheFixedMembersFirstAndTheRestInKeyOrder() throws {
        let sink = LogSink.capturing()
        var logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        logger[metadataKey: "request.id"] = "r-1"
        logger[metadataKey: "zeta"] = "handler"
        logger.info("GET /a \"b\" 200", metadata: ["url.path": "/a", "http.response.status_code": .stringConvertible(200), "zeta": "event"])
        let line = try #require(sink.capturedLines.first)
        let object = try #require(try JSON.parse(line).objectValue)
        #expect(
            object.keys == [
                "@timestamp", "log.level", "message", "service.name", "request.id", "log.logger", "http.response.status_code", "url.path", "zeta",
            ]
        )
        #expect(object["message"] == "GET /a \"b\" 200")
        #expect(object["http.response.status_code"] == "200")
        #expect(object["zeta"] == "event", "event metadata overrides the handler's")
    }

    @Test func metadataNamedLikeAFixedMemberReplacesItsValueInPlace() throws {
        let sink = LogSink.capturing()
        let logger = Logger(label: "svc") { label in JSONLogHandler(label: label, sink: sink) }
        logger.info("hello", metadata: ["message": "replaced", "a": "1"])
        let line = try #require(sink.capturedLines.first)
        let object = try #require(try JSON.parse(line).objectValue)
        #expect(object.keys == ["@timestamp", "log.level", "message", "service.name", "log.logger", "a"])
        #expect(object["message"] == "replaced")
    }
}
