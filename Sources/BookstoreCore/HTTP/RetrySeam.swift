/// A seam for test harnesses, the gateway's twin of ``MiddlewareSeam``: its retry rule. The planted-defect harness
/// (`bookstore-faults`, a test-only executable) sets it for the task that builds the gateway, to plant a gateway that
/// re-sends whatever failed — timed out or reset, a POST without `Idempotency-Key` included (what nginx does with
/// `proxy_next_upstream error timeout non_idempotent`). Production code never does, so the gateway follows SPEC §5.
public enum RetrySeam {
    @TaskLocal public static var resendsEveryFailedRequest = false
}
