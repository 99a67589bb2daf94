#!/usr/bin/env python3
"""Ping a MongoDB-wire server (SecantusDB) with OP_MSG {ping: 1}, stdlib only.

  mongo-ping.py [--host 127.0.0.1] [--port 57017] [--timeout 2] [--command hello]

Exits 0 and prints the reply when the server answers {ok: 1}, 1 otherwise.
Used by ci/infra as the readiness probe of the `mongo` component.
"""

import argparse
import socket
import struct
import sys

OP_MSG = 2013


def encode_doc(items):
    body = b""
    for key, value in items:
        k = key.encode() + b"\0"
        if isinstance(value, bool):
            body += b"\x08" + k + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            body += b"\x10" + k + struct.pack("<i", value)
        elif isinstance(value, str):
            s = value.encode() + b"\0"
            body += b"\x02" + k + struct.pack("<i", len(s)) + s
        else:
            raise TypeError(type(value))
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def decode_doc(data):
    """Top-level fields of a BSON document: scalars decoded, sub-documents as '<document>'."""
    (size,) = struct.unpack_from("<i", data, 0)
    pos, out = 4, {}
    while pos < size - 1:
        kind = data[pos]
        end = data.index(b"\0", pos + 1)
        key = data[pos + 1:end].decode()
        pos = end + 1
        if kind == 0x01:
            (out[key],) = struct.unpack_from("<d", data, pos); pos += 8
        elif kind in (0x02, 0x0D, 0x0E):
            (n,) = struct.unpack_from("<i", data, pos)
            out[key] = data[pos + 4:pos + 3 + n].decode(errors="replace"); pos += 4 + n
        elif kind in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", data, pos)
            out[key] = "<document>"; pos += n
        elif kind == 0x05:
            (n,) = struct.unpack_from("<i", data, pos)
            out[key] = "<binary>"; pos += 5 + n
        elif kind == 0x07:
            out[key] = data[pos:pos + 12].hex(); pos += 12
        elif kind == 0x08:
            out[key] = data[pos] == 1; pos += 1
        elif kind in (0x09, 0x11, 0x12):
            (out[key],) = struct.unpack_from("<q", data, pos); pos += 8
        elif kind in (0x0A, 0xFF, 0x7F):
            out[key] = None
        elif kind == 0x10:
            (out[key],) = struct.unpack_from("<i", data, pos); pos += 4
        elif kind == 0x13:
            out[key] = "<decimal128>"; pos += 16
        else:
            break  # unknown type: stop, keep what we have
    return out


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=57017)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--command", default="ping")
    p.add_argument("--quiet", "-q", action="store_true")
    a = p.parse_args()
    try:
        with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
            s.settimeout(a.timeout)
            payload = struct.pack("<I", 0) + b"\x00" + encode_doc([(a.command, 1), ("$db", "admin")])
            s.sendall(struct.pack("<iiii", 16 + len(payload), 1, 0, OP_MSG) + payload)
            length, _req, _resp, opcode = struct.unpack("<iiii", recv_exact(s, 16))
            body = recv_exact(s, length - 16)
    except (OSError, ConnectionError) as e:
        if not a.quiet:
            print(f"mongo-ping: {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1
    if opcode != OP_MSG or body[4] != 0:
        print(f"mongo-ping: unexpected reply (opcode {opcode})", file=sys.stderr)
        return 1
    reply = decode_doc(body[5:])
    if not a.quiet:
        print(reply)
    return 0 if reply.get("ok") in (1, 1.0, True) else 1


if __name__ == "__main__":
    sys.exit(main())
