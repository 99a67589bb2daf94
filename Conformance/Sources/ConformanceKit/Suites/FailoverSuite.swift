/// Placeholder while the suite is written.
public enum FailoverSuite {
    public static var checks: [Check] { [] }
}
