/// Placeholder while the suite is written.
public enum AsyncSuite {
    public static var checks: [Check] { [] }
}
