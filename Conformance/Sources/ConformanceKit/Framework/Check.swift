/// One conformance check: a stable identifier, what it proves, what it needs from the target, and how to run it.
///
/// The body passes by returning, fails by throwing ``CheckFailure`` (expected versus seen), and may decide at run
/// time that it cannot run by throwing ``CheckSkip`` (a skip is never a pass). Any other error is reported as an
/// error of the harness or the target.
public struct Check: Sendable, Identifiable {
    /// A stable identifier such as `API-USERS-REGISTER-201`.
    public let id: String
    public let suite: Suite
    /// One line saying what the check proves.
    public let summary: String
    /// What the target must offer; a check whose requirements are not met is skipped with the reason.
    public let requirements: Set<Capability>
    /// The longest the body may run before it counts as failed.
    public let timeLimit: Duration
    let body: @Sendable (CheckContext) async throws -> Void

    public init(
        _ id: String,
        suite: Suite,
        _ summary: String,
        requires requirements: Set<Capability> = [.http],
        timeLimit: Duration = .seconds(60),
        body: @escaping @Sendable (CheckContext) async throws -> Void
    ) {
        self.id = id
        self.suite = suite
        self.summary = summary
        self.requirements = requirements
        self.timeLimit = timeLimit
        self.body = body
    }
}

/// A check did not hold: what was expected and what was seen.
public struct CheckFailure: Error, Sendable, CustomStringConvertible {
    public let expected: String
    public let seen: String

    public init(expected: String, seen: String) {
        self.expected = expected
        self.seen = seen
    }

    /// `expected …, seen …`: the message of the JUnit failure.
    public var description: String { "expected \(self.expected), seen \(self.seen)" }
}

/// A precondition of the check (a fixture: a user, a login, a payment) could not be set up, so what the check tests
/// was never looked at. Reported as an error naming the fixture (`blocked: POST /api/reviews answered 308`), distinct
/// from an assertion failure and never a pass or a skip.
public struct CheckBlocked: Error, Sendable, CustomStringConvertible {
    /// The fixture step that failed, e.g. `POST /api/auth/register (fixture user alice)`.
    public let fixture: String
    public let seen: String

    public init(fixture: String, seen: String) {
        self.fixture = fixture
        self.seen = seen
    }

    /// `blocked: <fixture> answered <seen>`: the message of the JUnit error.
    public var description: String { "blocked: \(self.fixture): \(self.seen)" }
}

/// A check cannot run against this target; the reason is reported and the check is not counted as passed.
public struct CheckSkip: Error, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }
}

/// How a check ended.
public enum CheckStatus: Sendable, Equatable {
    case passed
    case failed(String)
    case skipped(String)
    /// The check could not complete for a reason that is neither a pass nor a contract failure (a harness error,
    /// an unexpected exception).
    case errored(String)

    public var label: String {
        switch self {
        case .passed: "passed"
        case .failed: "failed"
        case .skipped: "skipped"
        case .errored: "error"
        }
    }

    public var message: String? {
        switch self {
        case .passed: nil
        case .failed(let message), .skipped(let message), .errored(let message): message
        }
    }

    public var isPassed: Bool { self == .passed }
    public var isSkipped: Bool { if case .skipped = self { true } else { false } }
    public var isFailure: Bool { if case .failed = self { true } else { false } }
    public var isError: Bool { if case .errored = self { true } else { false } }
}

/// The outcome of one check in one run.
public struct CheckResult: Sendable {
    public let id: String
    public let suite: Suite
    public let summary: String
    public let status: CheckStatus
    public let duration: Duration
    public let evidence: [EvidenceEntry]

    public init(id: String, suite: Suite, summary: String, status: CheckStatus, duration: Duration, evidence: [EvidenceEntry]) {
        self.id = id
        self.suite = suite
        self.summary = summary
        self.status = status
        self.duration = duration
        self.evidence = evidence
    }
}
