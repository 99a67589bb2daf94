/// Placeholder while the suite is written.
public enum AlertsSuite {
    public static var checks: [Check] { [] }
}
