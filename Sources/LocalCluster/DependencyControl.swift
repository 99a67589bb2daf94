import Foundation

/// Stops and starts the cluster's infrastructure (PostgreSQL, MongoDB, RabbitMQ) with a command such as
/// `bash ci/infra` (`<command> stop postgres`, `<command> start postgres`): the conformance suite's way to take a
/// dependency away and check that readiness follows (`POST /dependencies/{name}/stop|start`).
public struct DependencyControl: Sendable {
    public enum Action: String, Sendable { case stop, start }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The names the command knows.
    public static let names: Set = ["postgres", "mongo", "rabbitmq"]

    public let command: [String]

    /// - Parameter command: the program and its first arguments; nil or empty when `CLUSTER_DEPENDENCY_COMMAND` is unset.
    public init?(command: String?) {
        let words = (command ?? "").split(separator: " ").map(String.init)
        guard !words.isEmpty else { return nil }
        self.command = words
    }

    /// Runs `<command> <action> <name>` to its end.
    /// - Throws: ``Failure`` with the last lines of its output when it exits with another status than 0.
    public func run(_ action: Action, _ name: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = self.command + [action.rawValue, name]
        // A file, not a pipe: a server the command starts keeps the descriptors it inherits, and a pipe would then
        // never reach its end.
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("bookstore-dependency-\(UUID().uuidString).log").path
        guard FileManager.default.createFile(atPath: outputPath, contents: nil), let output = FileHandle(forWritingAtPath: outputPath) else {
            throw Failure(description: "cannot create \(outputPath)")
        }
        defer {
            try? output.close()
            try? FileManager.default.removeItem(atPath: outputPath)
        }
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            let text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
            let tail = text.split(separator: "\n").suffix(3).joined(separator: " | ")
            throw Failure(description: "\(self.command.joined(separator: " ")) \(action.rawValue) \(name) exited with \(status): \(tail)")
        }
    }
}
