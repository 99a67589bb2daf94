import Hummingbird
import Logging

/// The framework's idle-memory floor for `ci/bench-services` (never part of the `bookstore` product):
///
///     bench-hummingbird serve PORT
///
/// the same bare Hummingbird server as `bench-hello serve` (`GET /hello` answers "Hello"), in an executable that links
/// Hummingbird and nothing else: `bench-hello` also links the drivers of its loops (postgres-nio, libmongoc), whose
/// libraries are resident too. Its idle RSS is what any service built on Hummingbird with this toolchain starts from.
@main
struct BenchHummingbird {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count == 2, arguments[0] == "serve", let port = Int(arguments[1]) else {
            print("usage: bench-hummingbird serve PORT")
            return
        }
        let router = Router()
        router.get("/hello") { _, _ in "Hello" }
        var logger = Logger(label: "bench-hummingbird")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.runService()
    }
}
