"""Guest DNS: a dnsmasq on the bridge address, or the host's own resolvers.

`dns = "dnsmasq"` (default): one dnsmasq per bridge listens on the bridge's addresses
only, forwards to `upstream_dns` or the host's resolv.conf servers (loopback ones work,
dnsmasq runs on the host), serves no DHCP, and writes its pid file into Atelier's run
directory. Guests get the bridge address as their only resolver.
`dns = "host"`: guests get the host's non-loopback resolvers directly, and the firewall
lets them reach those on port 53 even inside otherwise blocked private ranges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

from atelier.runtime.host import proc
from atelier.runtime.network.errors import NetworkError
from atelier.runtime.network.runner import Runner, terminate

IPAddress = IPv4Address | IPv6Address
RESOLV_CONF = Path("/etc/resolv.conf")
_STOP_WAIT_S = 5.0


def parse_resolv_conf(text: str) -> list[IPAddress]:
    """The `nameserver` addresses of a resolv.conf, in order (zone ids dropped)."""
    found: list[IPAddress] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(ip_address(words[1].split("%", 1)[0]))
            except ValueError:
                continue
    return found


def host_resolvers(netns: str | None = None, path: Path = RESOLV_CONF) -> list[IPAddress]:
    """The resolvers the host (or `ip netns exec <netns>`) uses."""
    if netns is not None:
        own = Path("/etc/netns") / netns / "resolv.conf"
        if own.exists():
            path = own
    try:
        return parse_resolv_conf(path.read_text())
    except FileNotFoundError:
        return []


def guest_resolvers(resolvers: Sequence[IPAddress]) -> list[IPAddress]:
    """The resolvers a guest can use directly: loopback and link-local ones are dropped."""
    return [a for a in resolvers if not (a.is_loopback or a.is_link_local or a.is_unspecified)]


def dnsmasq_args(
    *, listen: Sequence[IPAddress], upstream: Sequence[IPAddress], pid_file: Path, log_file: Path
) -> list[str]:
    """dnsmasq's arguments (after the program name) for the bridge resolver."""
    if not upstream:
        raise NetworkError(
            "dnsmasq has no upstream resolver: network.upstream_dns is empty and the host's"
            " resolv.conf lists no nameserver",
            hint='set network.upstream_dns in the config, e.g. ["1.1.1.1"]',
            field="network.upstream_dns",
        )
    args = [
        "--conf-file=/dev/null",
        f"--pid-file={pid_file}",
        f"--log-facility={log_file}",
        "--bind-interfaces",
        *[f"--listen-address={a}" for a in listen],
        "--no-resolv",
        "--no-hosts",
        "--domain-needed",
        "--bogus-priv",
        "--cache-size=1000",
        *[f"--server={a}" for a in upstream],
    ]
    return args


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _netns_inode(netns: str | None) -> int | None:
    path = Path("/run/netns") / netns if netns else Path("/proc/self/ns/net")
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _process_netns_inode(pid: int) -> int | None:
    try:
        return Path(f"/proc/{pid}/ns/net").stat().st_ino
    except OSError:
        return None


class Dnsmasq:
    """The dnsmasq process of one bridge, found again through its pid file.

    A dnsmasq whose state directory was lost (pid file gone) is an orphan: it is still
    recognisable as Atelier's — dnsmasq with no config file, a `dnsmasq.pid`, listening on
    the bridge address, in the same network namespace — and setup and teardown stop it.
    """

    def __init__(
        self, runner: Runner, directory: Path, *, listen: IPAddress, netns: str | None = None
    ) -> None:
        self._run = runner
        self.pid_file = directory / "dnsmasq.pid"
        self.log_file = directory / "dnsmasq.log"
        self._listen = listen
        self._netns = netns

    def orphans(self) -> list[int]:
        """Pids of Atelier dnsmasq processes for this bridge that our pid file does not name."""
        here = _netns_inode(self._netns)
        current = self.running()
        ours = current[0] if current else None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            argv = proc.process_cmdline(pid)
            if (
                argv
                and argv[0].endswith("dnsmasq")
                and "--conf-file=/dev/null" in argv
                and f"--listen-address={self._listen}" in argv
                and any(a.startswith("--pid-file=") and a.endswith("/dnsmasq.pid") for a in argv)
                and pid != ours
                and proc.pid_alive(pid)
                and here is not None
                and _process_netns_inode(pid) == here
            ):
                found.append(pid)
        return found

    async def _stop_orphans(self) -> list[str]:
        changes = []
        for pid in self.orphans():
            await terminate(pid, timeout=_STOP_WAIT_S)
            changes.append(f"stopped an orphaned dnsmasq (pid {pid}) whose state was lost")
        return changes

    def running(self) -> tuple[int, list[str]] | None:
        """(pid, argv) of our dnsmasq when it runs; a stale pid file counts as not running."""
        pid = _read_pid(self.pid_file)
        if pid is None or not proc.pid_alive(pid):
            return None
        argv = proc.process_cmdline(pid)
        if not argv or not argv[0].endswith("dnsmasq") or f"--pid-file={self.pid_file}" not in argv:
            return None
        return pid, argv

    async def ensure(self, args: list[str]) -> list[str]:
        """Run dnsmasq with exactly `args`, restarting it when they changed."""
        current = self.running()
        if current is not None and current[1][1:] == args:
            return []
        changes = await self._stop_orphans()
        if current is not None:
            await self.stop()
            changes.append(f"stopped dnsmasq (pid {current[0]}) to apply a new configuration")
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        # dnsmasq forks once its sockets are bound; a bind error comes back as its exit code.
        await self._run.run("dnsmasq", *args, timeout=15.0)
        started = self.running()
        if started is None:
            raise NetworkError(
                f"dnsmasq started but left no live pid in {self.pid_file}",
                hint=f"see {self.log_file}",
            )
        return [*changes, f"started dnsmasq (pid {started[0]})"]

    async def stop(self) -> bool:
        """Stop our dnsmasq and any orphan of this bridge; False when none was running."""
        orphans = await self._stop_orphans()
        current = self.running()
        if current is not None:
            await terminate(current[0], timeout=_STOP_WAIT_S)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return current is not None or bool(orphans)
