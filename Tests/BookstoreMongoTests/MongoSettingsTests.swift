import BookstoreCore
import JSONKit
import Testing

@testable import BookstoreMongo

@Suite struct MongoSettingsTests {
    @Test func defaults() throws {
        let settings = try MongoSettings(
            settings: Settings(environment: ["MONGO_URI": "mongodb://127.0.0.1:27017/?directConnection=true"]),
            defaultDatabase: "review_db"
        )
        #expect(settings.database == "review_db")
        #expect(settings.poolSize == 16)
        #expect(settings.timeoutMilliseconds == 5000)
        #expect(settings.appName == "bookstore")
    }

    @Test func explicitValues() throws {
        let settings = try MongoSettings(
            settings: Settings(environment: [
                "MONGO_URI": "mongodb://db.example:27018/", "MONGO_DB": "payment_db", "MONGO_POOL_SIZE": "4", "MONGO_TIMEOUT_MS": "750",
                "SERVICE_NAME": "review-service",
            ]),
            defaultDatabase: "review_db"
        )
        #expect(settings.database == "payment_db")
        #expect(settings.poolSize == 4)
        #expect(settings.timeout == .milliseconds(750))
        #expect(settings.timeoutMilliseconds == 750)
        #expect(settings.appName == "review-service")
    }

    @Test func uriFromParts() throws {
        let plain = try MongoSettings(settings: Settings(environment: ["MONGO_HOST": "mongo", "MONGO_PORT": "27018"]), defaultDatabase: "d")
        #expect(plain.uri == "mongodb://mongo:27018/?directConnection=true")
        let withUser = try MongoSettings(
            settings: Settings(environment: [
                "MONGO_HOST": "mongo", "MONGO_USER": "app", "MONGO_PASSWORD": "p@ss:w/rd%", "MONGO_DIRECT_CONNECTION": "false",
            ]),
            defaultDatabase: "d"
        )
        #expect(withUser.uri == "mongodb://app:p%40ss%3Aw%2Frd%25@mongo:27017/?authSource=admin")
        #expect(!withUser.description.contains("p%40ss"), "the description never shows the password")
        #expect(!"\(withUser)".contains("app:"))
    }

    @Test func invalidSettingsFailWithOneLine() {
        let cases: [[String: String]] = [
            [:],
            ["MONGO_URI": "postgres://localhost"],
            ["MONGO_URI": "mongodb://localhost", "MONGO_DB": "bad.name"],
            ["MONGO_URI": "mongodb://localhost", "MONGO_DB": "has space"],
            ["MONGO_URI": "mongodb://localhost", "MONGO_POOL_SIZE": "0"],
            ["MONGO_URI": "mongodb://localhost", "MONGO_TIMEOUT_MS": "fast"],
            ["MONGO_HOST": "bad host/"],
            ["MONGO_HOST": "mongo", "MONGO_PORT": "70000"],
        ]
        for environment in cases {
            #expect(throws: ConfigurationError.self, "\(environment)") {
                _ = try MongoSettings(settings: Settings(environment: environment), defaultDatabase: "d")
            }
        }
    }

    @Test func aClientCanBeMadeWithoutAServer() async throws {
        // Creating a client connects to nothing; closing it twice is harmless; a closed client answers 503.
        let settings = try MongoSettings(uri: "mongodb://127.0.0.1:9/?directConnection=true", database: "nothing", timeout: .milliseconds(200))
        let client = try MongoClient(settings: settings)
        client.close()
        client.close()
        #expect(await client.isReachable() == false)
        await #expect(throws: DependencyError.self) { try await client.collection("c").insertOne(["a": 1]) }
    }
}
