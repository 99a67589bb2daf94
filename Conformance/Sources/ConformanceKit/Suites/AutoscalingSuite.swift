/// Placeholder while the suite is written.
public enum AutoscalingSuite {
    public static var checks: [Check] { [] }
}
