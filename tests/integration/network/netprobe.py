"""Tiny TCP/DNS probes the network tests run inside their namespaces (stdlib only).

netprobe.py serve HOST PORT       accept connections, answer "<tag> <peer address>"
netprobe.py connect HOST PORT [TIMEOUT]   print the answer; exit 2 on timeout, 3 refused
netprobe.py dns SERVER NAME       one A query over UDP; print the addresses
"""

from __future__ import annotations

import random
import socket
import struct
import sys

TIMEOUT_S = 3.0


def serve(host: str, port: int, tag: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(16)
        sys.stdout.write("listening\n")
        sys.stdout.flush()
        while True:
            conn, peer = server.accept()
            with conn:
                address = peer[0].removeprefix("::ffff:")
                conn.sendall(f"{tag} {address}\n".encode())


def connect(host: str, port: int, timeout: float = TIMEOUT_S) -> int:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            sys.stdout.write(conn.recv(256).decode())
    except TimeoutError:
        sys.stdout.write("timeout\n")
        return 2
    except ConnectionRefusedError:
        sys.stdout.write("refused\n")
        return 3
    except OSError as exc:
        sys.stdout.write(f"error {exc.strerror}\n")
        return 4
    return 0


def dns(server: str, name: str) -> int:
    ident = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + b"\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_S)
        try:
            sock.sendto(query, (server, 53))
            reply = sock.recv(512)
        except TimeoutError:
            sys.stdout.write("timeout\n")
            return 2
        except OSError as exc:
            sys.stdout.write(f"error {exc.strerror}\n")
            return 4
    answers = struct.unpack("!H", reply[6:8])[0]
    pos = 12 + len(question) + 4
    found = []
    for _ in range(answers):
        pos += 2 if reply[pos] & 0xC0 == 0xC0 else len(question)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", reply[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(reply[pos : pos + 4]))
        pos += length
    sys.stdout.write(" ".join(found) + "\n")
    return 0 if found else 5


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "serve":
        serve(args[0], int(args[1]), args[2] if len(args) > 2 else "hello")
        return 0
    if command == "connect":
        return connect(args[0], int(args[1]), *(float(a) for a in args[2:3]))
    if command == "dns":
        return dns(args[0], args[1])
    sys.stderr.write(f"unknown command {command}\n")
    return 64


if __name__ == "__main__":
    sys.exit(main())
