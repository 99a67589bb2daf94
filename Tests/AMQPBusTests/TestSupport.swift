import Foundation
import Logging

/// A fresh, empty directory under the system temporary folder, removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        self.path = base + "/amqpbus-tests-" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// A logger that stays silent unless a test fails badly.
let quietLogger: Logger = {
    var logger = Logger(label: "amqpbus-tests")
    logger.logLevel = .critical
    return logger
}()
