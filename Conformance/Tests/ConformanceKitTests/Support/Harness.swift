import ConformanceKit
import Foundation

/// Paths of the package and helpers to run catalogue checks against fakes.
enum Harness {
    /// The package root, found from this file's path.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<5 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var contractsDirectory: String { self.packageRoot + "/Conformance/contracts" }

    static let contracts: ContractBook = {
        do {
            return try ContractBook(directory: contractsDirectory)
        } catch {
            fatalError("cannot load the OpenAPI documents: \(error)")
        }
    }()

    /// The checks with these ids, in catalogue order.
    static func checks(_ ids: String...) throws -> [Check] {
        try Catalogue.select(ids: ids)
    }

    /// Runs checks against a static target and returns the results by id (without the runner's `TARGET-READY`).
    static func run(_ ids: [String], endpoints: TargetEndpoints, options: RunOptions = RunOptions()) async throws -> [String: CheckResult] {
        let target = StaticTarget(name: "fake", endpoints: endpoints)
        let report = await ConformanceRunner.run(try Catalogue.select(ids: ids), against: target, options: options)
        return Dictionary(
            uniqueKeysWithValues: report.results.filter { $0.id != ConformanceRunner.targetReadyID }.map { ($0.id, $0) }
        )
    }
}
