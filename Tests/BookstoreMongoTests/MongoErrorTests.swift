import BookstoreCore
import CMongoC
import Testing

@testable import BookstoreMongo

@Suite struct MongoErrorTests {
    let message = "E11000 duplicate key error collection: review_db.reviews index: book_user_active dup key: { book_id: \"b\" }"

    @Test func duplicateKeysAreRecognisedWithTheirIndex() {
        for code: UInt32 in [11000, 11001, 12582] {
            let error = MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: code, message: self.message)
            #expect(error.isDuplicateKey)
            #expect(error == .duplicateKey)
            #expect(error.serverCode == Int(code))
            #expect(error.indexName == "book_user_active")
            #expect(!error.isUnavailable)
        }
        // Matching in a catch clause.
        do {
            throw MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: 11000, message: self.message)
        } catch MongoError.duplicateKey {
        } catch {
            Issue.record("not matched: \(error)")
        }
    }

    @Test func driverTextStaysOutOfTheDescription() {
        let error = MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: 11000, message: self.message)
        #expect(!error.description.contains("book_id"))
        #expect(!"\(error)".contains("review_db"))
        #expect(String(reflecting: error).contains("dup key"), "the logs get the driver's message")
        let wrapped = DependencyError(
            dependency: "database",
            underlying: MongoError(domain: MONGOC_ERROR_STREAM.rawValue, code: 4, message: "secret host")
        )
        #expect(!wrapped.description.contains("secret"))
    }

    @Test func outagesAreUnavailable() {
        let outages: [(mongoc_error_domain_t, UInt32)] = [
            (MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE.rawValue),
            (MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET.rawValue),
            (MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT.rawValue),
            (MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue),
            (MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_INVALID_REPLY.rawValue),
            (MONGOC_ERROR_WRITE_CONCERN, 64),
            (MONGOC_ERROR_SERVER, 10107),  // NotWritablePrimary
            (MONGOC_ERROR_SERVER, 91),  // ShutdownInProgress
            (MONGOC_ERROR_SERVER, 50),  // MaxTimeMSExpired
        ]
        for (domain, code) in outages {
            let error = MongoError(domain: domain.rawValue, code: code, message: "x")
            #expect(error.isUnavailable, "domain \(domain.rawValue) code \(code)")
            #expect(error.code == .unavailable)
        }
    }

    @Test func otherFailuresAreNotOutages() {
        let server = MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: 2, message: "BadValue")
        #expect(server.code == .server)
        #expect(server.serverCode == 2)
        #expect(!server.isUnavailable)
        #expect(MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: MONGOC_ERROR_CLIENT_TOO_BIG.rawValue, message: "x").code == .invalidDocument)
        #expect(MongoError(domain: MONGOC_ERROR_BSON.rawValue, code: 1, message: "x").code == .invalidDocument)
        #expect(
            MongoError(domain: MONGOC_ERROR_COMMAND.rawValue, code: MONGOC_ERROR_COMMAND_INVALID_ARG.rawValue, message: "x").code == .invalidRequest
        )
        #expect(MongoError.closedClient.isUnavailable)
    }

    @Test func indexNameParsing() {
        #expect(MongoError.indexName(in: "E11000 duplicate key error index: review_id_1 dup key") == "review_id_1")
        #expect(MongoError.indexName(in: "duplicate key, index: a_b, key ...") == "a_b")
        #expect(MongoError.indexName(in: "duplicate key") == nil)
    }
}
