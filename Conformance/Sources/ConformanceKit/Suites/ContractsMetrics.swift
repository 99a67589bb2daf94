import ContractKit
import Foundation

extension ContractsSuite {
    /// SPEC §8's metrics, read as series rather than searched for as text: every service's `/metrics` (called
    /// directly) has the HTTP counter and histogram with their four labels, the process series, and route templates
    /// in its labels, never the raw path of a request just sent.
    static var metricsChecks: [Check] {
        ["users", "payments-python", "payments-java", "reviews"].map { service in
            Check(
                "OBS-METRICS-\(service.uppercased())",
                suite: .contracts,
                "\(service)'s /metrics has http_requests_total and http_request_duration_seconds with service, method, route (a template) "
                    + "and status, and the process CPU and memory series",
                requires: [.http, .contracts, .directServices]
            ) { context in
                guard let base = context.endpoints.serviceURLs[service] else { throw CheckSkip("no --service-url for \(service)") }
                let segment = "metrics-\(context.options.runID)-\(UUID().uuidString.prefix(8).lowercased())"
                // A request to a templated path with a value nobody else sends: its route label must be the template.
                if let document = context.endpoints.contracts?.documents[service],
                    let operation = document.operations.first(where: { $0.method == "GET" && $0.pathTemplate.contains("{") })
                {
                    let path = operation.pathTemplate.replacing(/\{[^}]+\}/, with: segment)
                    _ = try await context.http.send("GET", base + path, headers: [], body: nil, record: false)
                }
                let metrics = try await context.http.send("GET", base + "/metrics", headers: [], body: nil, record: false)
                try context.expectStatus(metrics, 200)
                let problems = PrometheusText.specProblems(in: String(decoding: metrics.body, as: UTF8.self), rawSegment: segment)
                try context.require(
                    problems.isEmpty,
                    expected: "the series of SPEC §8 in \(service)'s /metrics",
                    seen: problems.joined(separator: "; ")
                )
            }
        }
    }
}
