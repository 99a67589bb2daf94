import AsyncHTTPClient
import JSONKit
import NIOHTTP1
import Testing

@testable import LocalCluster

@Suite struct ClusterControlClientTests {
    @Test func requestsGoToThePathUnderTheBase() {
        let client = ClusterControlClient(base: "http://127.0.0.1:7171")
        let request = client.request(.POST, "/services/users/scale?replicas=3")
        #expect(request.url == "http://127.0.0.1:7171/services/users/scale?replicas=3")
        #expect(request.method == .POST)
        #expect(client.request(.GET, "/replicas").method == .GET)
    }

    @Test func successfulAnswersAreTheirJSONAndOthersTheirErrorMessage() throws {
        #expect(try ClusterControlClient.result(status: 200, body: Array(#"[{"id":"users-1"}]"#.utf8)) == [["id": "users-1"]])
        #expect(try ClusterControlClient.result(status: 202, body: Array("not json".utf8)) == .null)
        #expect(throws: ClusterControlError("unknown replica users-9")) {
            try ClusterControlClient.result(status: 404, body: Array(#"{"error":"unknown replica users-9"}"#.utf8))
        }
        #expect(throws: ClusterControlError("HTTP 500")) { try ClusterControlClient.result(status: 500, body: []) }
    }
}
