import NIOCore
import Testing

@testable import LoadTestKit

/// Coordinated omission: a server that stalls once must show up in the open model's percentiles.
///
/// Set-up: a constant arrival rate R = 200 req/s for D = 5 s (N = R·D = 1000 requests) against an in-process server that,
/// when its 400th request arrives (t₀ ≈ 2 s), holds every response for the next S = 500 ms. The engine may use at most 4
/// connections, so requests due during the stall wait on the client side, as they would behind any real connection pool.
///
/// Expected corrected latency: a request intended at t ∈ [t₀, t₀+S) completes at ≈ t₀+S, so its latency is t₀+S−t: the
/// R·S = 100 stalled requests have latencies spread evenly over (0, S], one every 1/R = 5 ms, and all other requests take
/// well under a millisecond. The p99 is the value with 1 % of N = 10 requests above it, i.e. the 11th largest latency,
/// S − 10/R. In general p_q = S − (1−q)·N/R = S − (1−q)·D as long as (1−q)·D < S. Here: 500 ms − 0.01 · 5 s = 450 ms.
///
/// A naive measurement — the time from the actual send — sees the stall only for the ≤ 4 requests already on the wire when
/// it began (0.4 % of N), so its p99 stays at the normal service time, far below 450 ms.
@Suite(.serialized)
struct CoordinatedOmissionTests {
    static let rate = 200.0
    static let duration = 5.0
    static let stall = 0.5
    static let quantile = 0.99

    /// S − (1−q)·D.
    static var expectedP99Seconds: Double { stall - (1 - quantile) * duration }

    @Test func openModelP99ReflectsAStallWhileServiceTimeDoesNot() async throws {
        #expect(abs(Self.expectedP99Seconds - 0.45) < 1e-9)
        let stall = TestHTTPServer.Stall(afterRequests: 400, length: .milliseconds(Int64(Self.stall * 1000)))
        let result = try await withTestServer(stall: stall) { server in
            try await LoadRunner.run(
                LoadConfiguration(
                    name: "stall",
                    baseURL: try BaseURL(server.baseURL),
                    requests: [RequestDefinition(name: "get", path: .literal("/"))],
                    model: .open(.constant(Self.rate), maxConnections: 4),
                    duration: .milliseconds(Int64(Self.duration * 1000)),
                    requestTimeout: .seconds(5),
                    threads: 1
                )
            )
        }

        #expect(stall.started)
        #expect(result.overall.completed == 1000)
        #expect(result.overall.failed == 0)
        let corrected = result.latency(percentile: 99, corrected: true)
        let naive = result.latency(percentile: 99, corrected: false)
        let expected = Self.expectedP99Seconds
        // Within 10 % of S − (1−q)·D.
        #expect(abs(corrected - expected) <= 0.1 * expected, "corrected p99 \(corrected) s, expected \(expected) s")
        // The naive value misses the stall (and is nowhere near the expected value).
        #expect(naive < 0.5 * expected, "uncorrected p99 \(naive) s")
        #expect(abs(naive - expected) > 0.1 * expected)
        // Both see the stall's full length at the maximum.
        #expect(result.latency(percentile: 100, corrected: true) >= Self.stall * 0.9)
        // Requests that waited for a connection are counted as late sends: ≈ R·S − 4.
        #expect(result.lateSends >= 80)
    }
}

extension LoadResult {
    fileprivate func latency(percentile: Double, corrected: Bool) -> Double {
        overall.latency(atPercentile: percentile, corrected: corrected).seconds
    }
}
