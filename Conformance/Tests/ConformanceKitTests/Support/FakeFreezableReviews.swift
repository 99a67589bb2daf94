import ConformanceKit
import Foundation
import Hummingbird
import JSONKit
import Synchronization

/// A stand-in for a gateway in front of two reviews replicas that the control API can freeze
/// (`POST /replicas/{id}/pause|resume`), for `FAILOVER-KEYLESS-POST-NOT-RESENT`. Requests alternate between the
/// replicas. A helpful vote that lands on a frozen replica is held by it — counted when it is resumed — and the
/// gateway answers 504 after `readTimeout`; with `resendsHeldVotes` (the defect) it sends the vote to the other replica
/// instead, which counts it as well.
final class FakeFreezableReviews: Sendable {
    private struct State {
        var paused: Set<String> = []
        var held: [String: Int] = [:]
        var helpfulCount = 0
        var served: [String: Int] = [:]
        var next = 0
    }

    static let replicaIDs = ["reviews-1", "reviews-2"]
    let resendsHeldVotes: Bool
    let readTimeout: Duration
    private let state = Mutex(State())

    init(resendsHeldVotes: Bool = false, readTimeout: Duration = .milliseconds(2500)) {
        self.resendsHeldVotes = resendsHeldVotes
        self.readTimeout = readTimeout
    }

    /// The replica the next request goes to (round robin), and whether it is frozen.
    private func nextReplica() -> (id: String, paused: Bool) {
        self.state.withLock { state in
            let id = Self.replicaIDs[state.next % Self.replicaIDs.count]
            state.next += 1
            return (id, state.paused.contains(id))
        }
    }

    /// Counts a vote where a running replica takes it; returns the new count.
    private func countVote() -> Int {
        self.state.withLock { state in
            state.helpfulCount += 1
            return state.helpfulCount
        }
    }

    private func review(_ count: Int) -> JSON {
        ["review_id": "r-1", "book_id": "b-1", "rating": 4, "helpful_count": .int(count), "status": "active"]
    }

    var router: Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // Control API: the replicas' own addresses are paths of this server.
        router.get("/replicas") { request, _ in
            let base = "http://\(request.head.authority ?? "127.0.0.1")/replica"
            let paused = self.state.withLock { $0.paused }
            return Response.json(
                .array(
                    Self.replicaIDs.map { id in
                        [
                            "id": .string(id), "service": "reviews", "status": paused.contains(id) ? "unready" : "ready",
                            "url": .string("\(base)/\(id)"), "pid": 7, "restarts": 0, "paused": .bool(paused.contains(id)),
                        ]
                    }
                )
            )
        }
        router.post("/replicas/:id/pause") { _, context in
            let id = context.parameters.get("id") ?? ""
            self.state.withLock { _ = $0.paused.insert(id) }
            return Response.json(["id": .string(id), "paused": true])
        }
        router.post("/replicas/:id/resume") { _, context in
            let id = context.parameters.get("id") ?? ""
            // Resumed, the replica goes on with the votes it had received.
            self.state.withLock { state in
                state.paused.remove(id)
                state.helpfulCount += state.held[id] ?? 0
                state.held[id] = 0
            }
            return Response.json(["id": .string(id), "paused": false])
        }
        router.get("/replica/:id/metrics") { _, context in
            let id = context.parameters.get("id") ?? ""
            let served = self.state.withLock { $0.served[id] ?? 0 }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "http_requests_total{route=\"/api/reviews/{review_id}\"} \(served)\n"))
            )
        }
        // Fixtures
        router.post("/api/auth/register") { _, _ in
            Response.json(["user": ["id": "u-1", "email": "u@example.com"]], status: .created)
        }
        router.post("/api/auth/login") { _, _ in Response.json(["token": "t", "roles": ["ROLE_USER"]]) }
        router.post("/api/reviews") { _, _ in Response.json(self.review(0), status: .created) }
        // The gateway
        router.get("/api/reviews/:id") { _, _ in
            let (replica, paused) = self.nextReplica()
            guard !paused else { return Response.json(["status": "error", "message": "timed out"], status: .gatewayTimeout) }
            let count = self.state.withLock { state in
                state.served[replica, default: 0] += 1
                return state.helpfulCount
            }
            return Response.json(self.review(count))
        }
        router.post("/api/reviews/:id/helpful") { _, _ in
            let (replica, paused) = self.nextReplica()
            guard paused else { return Response.json(self.review(self.countVote())) }
            self.state.withLock { $0.held[replica, default: 0] += 1 }
            try await Task.sleep(for: self.readTimeout)
            guard self.resendsHeldVotes else {
                return Response.json(["status": "error", "message": "Upstream reviews timed out"], status: .gatewayTimeout)
            }
            return Response.json(self.review(self.countVote()))
        }
        return router
    }
}
