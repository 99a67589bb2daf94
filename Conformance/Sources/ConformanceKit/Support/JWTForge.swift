import Crypto
import Foundation
import JSONKit

/// Builds the tokens the security checks attack with: re-signed, unsigned (`alg: none`), tampered, expired.
public enum JWTForge {
    public struct Parts: Sendable {
        public var header: JSON
        public var claims: JSON
        public var signature: String
    }

    /// Splits a compact JWS into its decoded header and claims and its (encoded) signature.
    public static func decode(_ token: String) -> Parts? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = base64URLDecode(parts[0]).flatMap({ try? JSON.parse($0) }),
            let claims = base64URLDecode(parts[1]).flatMap({ try? JSON.parse($0) })
        else { return nil }
        return Parts(header: header, claims: claims, signature: String(parts[2]))
    }

    /// `header.claims.signature` with the given encoded signature.
    public static func compact(header: JSON, claims: JSON, signature: String) -> String {
        base64URLEncode(header.bytes) + "." + base64URLEncode(claims.bytes) + "." + signature
    }

    /// A token signed with HMAC; `algorithm` is `HS256`, `HS384` or `HS512` (anything else signs with SHA-256).
    public static func sign(header: JSON, claims: JSON, secret: [UInt8], algorithm: String) -> String {
        let input = base64URLEncode(header.bytes) + "." + base64URLEncode(claims.bytes)
        let key = SymmetricKey(data: secret)
        let signature: [UInt8] =
            switch algorithm.uppercased() {
            case "HS384": Array(HMAC<SHA384>.authenticationCode(for: Array(input.utf8), using: key))
            case "HS512": Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: key))
            default: Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
            }
        return input + "." + base64URLEncode(signature)
    }

    /// `claims` with members replaced (a `null` change removes the member).
    public static func with(_ claims: JSON, _ changes: JSONObject) -> JSON {
        var object = claims.objectValue ?? [:]
        for (key, value) in changes {
            if value == .null {
                object[key] = JSON?.none
            } else {
                object[key] = value
            }
        }
        return .object(object)
    }

    /// A header with another `alg`.
    public static func header(alg: String) -> JSON { ["alg": .string(alg), "typ": "JWT"] }

    public static func base64URLEncode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func base64URLDecode(_ text: some StringProtocol) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64).map(Array.init)
    }

    /// Random bytes, e.g. a key nobody else has.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
