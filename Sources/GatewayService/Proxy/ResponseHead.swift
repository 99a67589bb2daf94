import HTTPWire
import NIOCore

/// The response head a client receives for a proxied request: the replica's status and fields, minus hop-by-hop
/// fields (RFC 9110 §7.6.1, including those its `Connection` names) and the ones the gateway sets itself, plus
/// `X-Request-ID`, `X-Gateway-Service`, CORS and the gateway's own `Connection`.
enum ResponseHead {
    enum ConnectionField {
        case none
        case close
        case keepAlive
    }

    private enum Disposition {
        case keep
        case drop
        case transferEncoding
        case allowOrigin
    }

    private static func disposition(_ bytes: UnsafeRawBufferPointer, _ name: Range<Int>) -> Disposition {
        switch name.count {
        case 2: return MessageHead.equals(bytes, name, "te") ? .drop : .keep
        case 7: return MessageHead.equals(bytes, name, "trailer") || MessageHead.equals(bytes, name, "upgrade") ? .drop : .keep
        case 10: return MessageHead.equals(bytes, name, "connection") || MessageHead.equals(bytes, name, "keep-alive") ? .drop : .keep
        case 12: return MessageHead.equals(bytes, name, "x-request-id") ? .drop : .keep
        case 16: return MessageHead.equals(bytes, name, "proxy-connection") ? .drop : .keep
        case 17:
            if MessageHead.equals(bytes, name, "transfer-encoding") { return .transferEncoding }
            return MessageHead.equals(bytes, name, "x-gateway-service") ? .drop : .keep
        case 18: return MessageHead.equals(bytes, name, "proxy-authenticate") ? .drop : .keep
        case 27: return MessageHead.equals(bytes, name, "access-control-allow-origin") ? .allowOrigin : .keep
        default: return .keep
        }
    }

    /// Calls `body` with the index of every field of `upstream` the client may see.
    private static func forEachForwarded(
        _ upstream: MessageHead,
        keepsTransferEncoding: Bool,
        replacesAllowOrigin: Bool,
        _ body: (UnsafeRawBufferPointer, Int) -> Void,
        end: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) {
        let listed = upstream.connectionListsFields ? ProxyPlanner.connectionListedNames(upstream) : nil
        upstream.bytes.withUnsafeReadableBytes { bytes in
            for index in 0..<upstream.fieldCount {
                switch Self.disposition(bytes, upstream.nameRange(index)) {
                case .keep:
                    if let listed, listed.contains(upstream.name(index).lowercased()) { continue }
                    body(bytes, index)
                case .transferEncoding:
                    if keepsTransferEncoding { body(bytes, index) }
                case .allowOrigin:
                    if !replacesAllowOrigin { body(bytes, index) }
                case .drop:
                    break
                }
            }
            end(bytes)
        }
    }

    /// Writes the client's response head for `upstream` into `buffer`.
    /// - Parameter keepsTransferEncoding: whether the body is forwarded still chunked.
    static func write(
        _ upstream: MessageHead,
        into buffer: inout ByteBuffer,
        requestID: String,
        allowOrigin: String?,
        keepsTransferEncoding: Bool,
        connection: ConnectionField
    ) {
        // At most: the upstream head, the request id, the origin, and fixed text (< 192 bytes).
        let capacity = upstream.bytes.readableBytes + requestID.utf8.count + (allowOrigin?.utf8.count ?? 0) + 192
        HeadWriter.append(to: &buffer, capacity: capacity) { writer in
            writer.writeStatic("HTTP/1.1 ")
            upstream.bytes.withUnsafeReadableBytes { bytes in
                writer.write(UnsafeRawBufferPointer(rebasing: bytes[upstream.first]))
                writer.writeStatic(" ")
                writer.write(UnsafeRawBufferPointer(rebasing: bytes[upstream.second]))
            }
            writer.writeStatic("\r\n")
            // Field lines are contiguous: each run of forwarded lines is copied at once.
            var run = 0..<0
            Self.forEachForwarded(upstream, keepsTransferEncoding: keepsTransferEncoding, replacesAllowOrigin: allowOrigin != nil) { bytes, index in
                let line = upstream.lineRange(index)
                if !run.isEmpty, run.upperBound == line.lowerBound {
                    run = run.lowerBound..<line.upperBound
                } else {
                    writer.write(UnsafeRawBufferPointer(rebasing: bytes[run]))
                    run = line
                }
            } end: { bytes in
                writer.write(UnsafeRawBufferPointer(rebasing: bytes[run]))
            }
            writer.writeStatic("X-Request-ID: ")
            writer.write(requestID)
            writer.writeStatic("\r\nX-Gateway-Service: bookstore-gateway\r\n")
            Self.writeEnd(of: &writer, allowOrigin: allowOrigin, connection: connection)
        }
    }

    /// ``writeEnd(of:allowOrigin:connection:)`` for a head written with a ``HeadWriter``.
    static func writeEnd(of writer: inout HeadWriter, allowOrigin: String?, connection: ConnectionField) {
        if let allowOrigin {
            writer.writeStatic("Access-Control-Allow-Origin: ")
            writer.write(allowOrigin)
            writer.writeStatic(allowOrigin == "*" ? "\r\n" : "\r\nVary: Origin\r\n")
        }
        switch connection {
        case .none: break
        case .close: writer.writeStatic("Connection: close\r\n")
        case .keepAlive: writer.writeStatic("Connection: keep-alive\r\n")
        }
        writer.writeStatic("\r\n")
    }

    /// The last fields of every head the gateway writes — CORS origin (with `Vary`) and `Connection` — and the empty
    /// line that ends it.
    static func writeEnd(of buffer: inout ByteBuffer, allowOrigin: String?, connection: ConnectionField) {
        if let allowOrigin {
            buffer.writeStaticString("Access-Control-Allow-Origin: ")
            buffer.writeString(allowOrigin)
            buffer.writeStaticString(allowOrigin == "*" ? "\r\n" : "\r\nVary: Origin\r\n")
        }
        switch connection {
        case .none: break
        case .close: buffer.writeStaticString("Connection: close\r\n")
        case .keepAlive: buffer.writeStaticString("Connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// The client's response fields for `upstream`, as name-value pairs (the router fallback; bodies are decoded, so
    /// `Transfer-Encoding` is dropped).
    static func fields(_ upstream: MessageHead, requestID: String, allowOrigin: String?) -> [(String, String)] {
        var fields: [(String, String)] = []
        Self.forEachForwarded(upstream, keepsTransferEncoding: false, replacesAllowOrigin: allowOrigin != nil) { _, index in
            fields.append((upstream.name(index), upstream.value(index)))
        }
        fields.append(("X-Request-ID", requestID))
        fields.append(("X-Gateway-Service", "bookstore-gateway"))
        if let allowOrigin {
            fields.append(("Access-Control-Allow-Origin", allowOrigin))
            if allowOrigin != "*" { fields.append(("Vary", "Origin")) }
        }
        return fields
    }
}
