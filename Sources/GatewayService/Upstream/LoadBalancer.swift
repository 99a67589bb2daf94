/// Power-of-two-choices: pick two distinct candidates at random and keep the one with fewer outstanding requests
/// (ties broken at random). Close to least-outstanding-requests in quality without scanning every replica or
/// herding all new requests onto the one that just became least loaded.
public enum PowerOfTwoChoices {
    /// The index of the chosen candidate among `count`, whose loads `load(index)` returns; nil when `count` is 0.
    public static func choose(count: Int, load: (Int) -> Int, using generator: inout some RandomNumberGenerator) -> Int? {
        switch count {
        case 0:
            return nil
        case 1:
            return 0
        default:
            let first = Int.random(in: 0..<count, using: &generator)
            var second = Int.random(in: 0..<(count - 1), using: &generator)
            if second >= first { second += 1 }
            let firstLoad = load(first)
            let secondLoad = load(second)
            if firstLoad == secondLoad { return Bool.random(using: &generator) ? first : second }
            return firstLoad < secondLoad ? first : second
        }
    }
}
