import Foundation

extension UUID {
    /// Parses the canonical 36-character form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits in either case) and
    /// nothing else. Foundation's `UUID(uuidString:)` on Linux reads the pairs with `sscanf`, which costs a visible
    /// share of a request that parses two (the users service: the caller's and the one asked for) and also takes a
    /// space, a sign or `0x` inside a pair (`7 02b416-…` reads as 0702B416-…), naming another id than the text.
    public init?(parsing text: String) {
        var text = text
        guard let value = text.withUTF8(Self.parse) else { return nil }
        self.init(uuid: value)
    }

    /// The canonical text in lowercase (`uuidString.lowercased()`, the form every contract uses), written straight
    /// from the bytes.
    public var lowercasedText: String {
        let hex: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: self.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { output in
                var index = 0
                for position in 0..<16 {
                    if position == 4 || position == 6 || position == 8 || position == 10 {
                        output[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    output[index] = hex.utf8Start[Int(bytes[position] >> 4)]
                    output[index + 1] = hex.utf8Start[Int(bytes[position] & 0x0F)]
                    index += 2
                }
                return index
            }
        }
    }

    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> uuid_t? {
        guard text.count == 36 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &value) { output -> Bool in
            var index = 0
            var byte = 0
            while index < 36 {
                // Every group has an even number of digits, so a pair never spans a dash.
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard text[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                    continue
                }
                guard let high = hexDigit(text[index]), let low = hexDigit(text[index + 1]) else { return false }
                output[byte] = high << 4 | low
                byte += 1
                index += 2
            }
            return true
        }
        return parsed ? value : nil
    }

    private static func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
