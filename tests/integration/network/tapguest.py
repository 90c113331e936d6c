"""A stand-in VM NIC: relays Ethernet frames between a sandbox TAP and a guest namespace.

Run inside the guest's network namespace (`ip netns exec <guest> python tapguest.py
<host-netns> <tap> <ifname>`). It creates a TAP named `<ifname>` there (the guest's NIC,
configured by the test with `ip`), then enters the host namespace and opens the sandbox's
persistent TAP exactly as QEMU would (IFF_TAP | IFF_NO_PI), and copies frames both ways
until killed. So the driver's real TAP, bridge port and rules carry the traffic.
Standard library only; Python 3.11 has no os.setns, hence ctypes.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import selectors
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def enter_netns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def main() -> None:
    host_netns, tap, ifname = sys.argv[1:4]
    guest = open_tap(ifname)
    enter_netns(host_netns)
    host = open_tap(tap)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    peers = {guest: host, host: guest}
    sel = selectors.DefaultSelector()
    for fd in peers:
        sel.register(fd, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            frame = os.read(key.fd, 65536)
            try:
                os.write(peers[key.fd], frame)
            except OSError:
                continue  # the other side is down: drop the frame, like a real NIC


if __name__ == "__main__":
    main()
