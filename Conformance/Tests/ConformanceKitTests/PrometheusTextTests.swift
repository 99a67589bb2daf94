import ConformanceKit
import Testing

@Suite struct PrometheusTextTests {
    static let conforming = """
        # TYPE http_requests_total counter
        http_requests_total{service="review-service",method="GET",route="/api/reviews/book/{bookId}",status="200"} 3
        # TYPE http_request_duration_seconds histogram
        http_request_duration_seconds_bucket{service="review-service",method="GET",route="/api/reviews/book/{bookId}",status="200",le="0.1"} 3
        http_request_duration_seconds_bucket{service="review-service",method="GET",route="/api/reviews/book/{bookId}",status="200",le="+Inf"} 3
        http_request_duration_seconds_sum{service="review-service",method="GET",route="/api/reviews/book/{bookId}",status="200"} 0.01
        http_request_duration_seconds_count{service="review-service",method="GET",route="/api/reviews/book/{bookId}",status="200"} 3
        process_cpu_seconds_total 1.5
        process_resident_memory_bytes 4.2e7
        """

    @Test func aConformingExpositionHasNoProblems() {
        #expect(PrometheusText.specProblems(in: Self.conforming, rawSegment: "b-17") == [])
        let samples = PrometheusText.samples(in: Self.conforming)
        #expect(samples.count == 7)
        #expect(samples.last == .init(name: "process_resident_memory_bytes", labels: [:], value: 4.2e7))
    }

    @Test func eachDeviationIsNamed() {
        let rawPath = Self.conforming.replacing("{bookId}", with: "b-17")
        #expect(PrometheusText.specProblems(in: rawPath, rawSegment: "b-17").contains { $0.contains("raw path") })
        let pathLabel = Self.conforming.replacing("route=", with: "path=")
        #expect(PrometheusText.specProblems(in: pathLabel, rawSegment: nil).contains { $0.contains("without labels [\"route\"]") })
        let noHistogram = Self.conforming.split(separator: "\n").filter { !$0.contains("duration") }.joined(separator: "\n")
        let problems = PrometheusText.specProblems(in: noHistogram, rawSegment: nil)
        #expect(problems.contains { $0.contains("histogram") } && problems.contains { $0.contains("_bucket") })
        let textOnly = "# http_requests_total is counted elsewhere\n"
        #expect(PrometheusText.specProblems(in: textOnly, rawSegment: nil).contains("no http_requests_total sample"))
    }
}
