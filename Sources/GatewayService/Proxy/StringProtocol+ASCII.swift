extension StringProtocol {
    /// ASCII case-insensitive equality with `other` (compared byte by byte; field names and tokens are ASCII).
    func equalsIgnoringASCIICase(_ other: some StringProtocol) -> Bool {
        let lhs = self.utf8
        let rhs = other.utf8
        guard lhs.count == rhs.count else { return false }
        var index = rhs.startIndex
        for byte in lhs {
            let a = byte | ((byte &- 65) < 26 ? 0x20 : 0)
            let raw = rhs[index]
            let b = raw | ((raw &- 65) < 26 ? 0x20 : 0)
            if a != b { return false }
            index = rhs.index(after: index)
        }
        return true
    }

    /// The string without leading and trailing spaces and tabs.
    func trimmingASCIISpaces() -> SubSequence {
        var start = self.startIndex
        var end = self.endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = self.index(after: start) }
        while end > start, self[self.index(before: end)] == " " || self[self.index(before: end)] == "\t" { end = self.index(before: end) }
        return self[start..<end]
    }
}
