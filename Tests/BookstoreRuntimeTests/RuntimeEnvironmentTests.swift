import BookstoreRuntime
import Testing

@Suite struct RuntimeEnvironmentTests {
    @Test func replicasShareTheServiceSettingsOnly() {
        let shared = Runtime.sharedServiceEnvironment([
            "POSTGRES_HOST": "db", "RABBITMQ_URL": "amqp://x", "MONGO_URL": "mongodb://y", "JWT_SECRET": "s", "PAYMENT_SUCCESS_RATE": "1",
            "LOGIN_RATE_LIMIT_BURST": "5", "GATEWAY_TIMEOUT_MS": "100", "LOG_LEVEL": "debug", "ACCESS_LOG": "false", "BCRYPT_COST": "4",
            "SHUTDOWN_DRAIN_SECONDS": "0", "BOOKSTORE_FAULT": "f", "PATH": "/bin", "HOME": "/root", "PORT": "1", "SERVICE_NAME": "x",
            "STORAGE": "memory",
        ])
        #expect(
            shared == [
                "POSTGRES_HOST": "db", "RABBITMQ_URL": "amqp://x", "MONGO_URL": "mongodb://y", "JWT_SECRET": "s", "PAYMENT_SUCCESS_RATE": "1",
                "LOGIN_RATE_LIMIT_BURST": "5", "GATEWAY_TIMEOUT_MS": "100", "LOG_LEVEL": "debug", "ACCESS_LOG": "false", "BCRYPT_COST": "4",
                "SHUTDOWN_DRAIN_SECONDS": "0", "BOOKSTORE_FAULT": "f", "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin123",
            ]
        )
    }

    @Test func theSecretAndAdminDefaultToTheEmbeddedOnesUnlessSet() {
        let defaults = Runtime.sharedServiceEnvironment([:])
        #expect(defaults == ["JWT_SECRET": Runtime.embeddedDevelopmentSecret, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin123"])
        let set = Runtime.sharedServiceEnvironment(["ADMIN_USERNAME": "root", "ADMIN_PASSWORD": "pw"])
        #expect(set["ADMIN_USERNAME"] == "root" && set["ADMIN_PASSWORD"] == "pw")
    }

    @Test func theUpBannerListsEveryServiceAndTheGatewayToTry() {
        let banner = Runtime.upBanner([(.gateway, "http://127.0.0.1:8080"), (.users, "http://127.0.0.1:8081")])
        #expect(
            banner == """

                Bookstore is up (embedded mode, in-memory stores, in-process event bus):
                  gateway          http://127.0.0.1:8080
                  users            http://127.0.0.1:8081
                Try: curl http://127.0.0.1:8080/api/users/health   (Ctrl-C stops)

                """
        )
    }
}
