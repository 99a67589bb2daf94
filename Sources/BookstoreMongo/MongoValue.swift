import BookstoreCore
import Foundation
import JSONKit

/// The extended-JSON convention for the BSON types JSON has no literal for.
///
/// A JSON object with a single member `$date`, `$numberDecimal`, `$numberLong`, `$numberDouble` or `$oid` is stored as
/// that BSON type, and read back in the same form:
/// - `{"$date": 1700000000123}` ⇄ a BSON datetime (milliseconds since 1970, UTC), so dates sort as dates;
///   `{"$date": "2026-01-02T03:04:05.678Z"}` is accepted when writing;
/// - `{"$numberDecimal": "19.90"}` ⇄ a Decimal128, so money keeps its exact digits;
/// - `{"$numberLong": "42"}` ⇄ an int64, `{"$numberDouble": "NaN"}` ⇄ a double that JSON cannot write;
/// - `{"$oid": "65a1…"}` ⇄ an ObjectId.
///
/// Every other JSON value maps directly: strings, booleans, null, arrays, objects; a number is an int32 or int64 when
/// its literal is an integer that fits, else a double.
public enum MongoValue {
    /// A BSON datetime: `{"$date": milliseconds}`.
    public static func date(_ date: Date) -> JSON {
        ["$date": .number(String(self.milliseconds(date)))]
    }

    /// The date of a `{"$date": …}` value, or nil.
    ///
    /// The date is the middle of its millisecond, so formatting it with millisecond precision shows the stored
    /// millisecond and storing it again stores the same one.
    public static func date(from value: JSON?) -> Date? {
        guard let millis = self.dateMilliseconds(from: value) else { return nil }
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let remainder = millis - seconds * 1000
        return Date(timeIntervalSince1970: Double(seconds) + (Double(remainder) + 0.5) / 1000)
    }

    /// The milliseconds since 1970 of a `{"$date": …}` value, or nil (for callers that build their `Date` themselves,
    /// e.g. as `milliseconds / 1000` to match dates they truncated to milliseconds).
    public static func milliseconds(from value: JSON?) -> Int64? {
        self.dateMilliseconds(from: value)
    }

    /// Milliseconds since 1970 as the store keeps them: the millisecond `date` falls in, after rounding it to the
    /// microsecond (so a date made as `milliseconds / 1000`, which a `Double` holds a hair below the millisecond,
    /// keeps its millisecond).
    public static func milliseconds(_ date: Date) -> Int64 {
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        return Int64((microseconds / 1000).rounded(.down))
    }

    /// A Decimal128: `{"$numberDecimal": literal}` (e.g. `"19.90"`).
    public static func decimal(_ literal: String) -> JSON {
        ["$numberDecimal": .string(literal)]
    }

    /// The literal of a `{"$numberDecimal": …}` value (as the server writes it, e.g. `"19.90"`), or nil.
    public static func decimal(from value: JSON?) -> String? {
        guard let object = value?.objectValue, object.count == 1 else { return nil }
        return object["$numberDecimal"]?.stringValue
    }

    /// An ObjectId: `{"$oid": hex}`.
    public static func objectID(_ hex: String) -> JSON {
        ["$oid": .string(hex)]
    }

    /// The 24 hexadecimal digits of a `{"$oid": …}` value, or nil.
    public static func objectID(from value: JSON?) -> String? {
        guard let object = value?.objectValue, object.count == 1 else { return nil }
        return object["$oid"]?.stringValue
    }

    /// The milliseconds of a `{"$date": …}` value (a number, a `{"$numberLong": …}` or an RFC 3339 string).
    static func dateMilliseconds(from value: JSON?) -> Int64? {
        guard let object = value?.objectValue, object.count == 1, let inner = object["$date"] else { return nil }
        switch inner {
        case .number(let literal):
            if let millis = Int64(literal) { return millis }
            guard let double = Double(literal), double.isFinite, double.rounded() == double, abs(double) < 9.2e18 else { return nil }
            return Int64(double)
        case .string(let text):
            // Parsed text is exact to the millisecond: round, as the Double may sit just below it.
            return Timestamp.parse(text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
        case .object(let long):
            guard long.count == 1, let text = long["$numberLong"]?.stringValue else { return nil }
            return Int64(text)
        default:
            return nil
        }
    }
}
