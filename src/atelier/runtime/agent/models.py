"""What the agent client returns: small frozen dataclasses built from the agent's replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Health:
    status: str  # "ok", "booting" or "degraded"
    version: int
    uptime_s: float  # since the guest kernel booted
    boot_id: str
    hostname: str
    agent_uptime_s: float
    boot: str  # init progress: "none" (not under init), "booting", "ready", "degraded"
    boot_errors: tuple[str, ...] = ()

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> Health:
        return cls(
            status=str(r.get("status", "")),
            version=int(r.get("version", 0)),
            uptime_s=float(r.get("uptime_s", 0.0)),
            boot_id=str(r.get("boot_id", "")),
            hostname=str(r.get("hostname", "")),
            agent_uptime_s=float(r.get("agent_uptime_s", 0.0)),
            boot=str(r.get("boot", "")),
            boot_errors=tuple(r.get("boot_errors") or ()),
        )


@dataclass(frozen=True)
class Metrics:
    cpu_percent: float  # since the previous metrics call (or boot)
    cpu_count: int
    load: tuple[float, float, float]
    memory_total: int
    memory_available: int
    disk_total: int
    disk_used: int
    disk_free: int
    uptime_s: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> Metrics:
        cpu, mem, disk = r.get("cpu", {}), r.get("memory", {}), r.get("disk", {})
        load = tuple(float(x) for x in cpu.get("load", (0.0, 0.0, 0.0)))
        return cls(
            cpu_percent=float(cpu.get("percent", 0.0)),
            cpu_count=int(cpu.get("count", 1)),
            load=(load[0], load[1], load[2]),
            memory_total=int(mem.get("total", 0)),
            memory_available=int(mem.get("available", 0)),
            disk_total=int(disk.get("total", 0)),
            disk_used=int(disk.get("used", 0)),
            disk_free=int(disk.get("free", 0)),
            uptime_s=float(r.get("uptime_s", 0.0)),
            raw=r,
        )


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int = 0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class FileStat:
    path: str
    type: str  # "file", "dir", "symlink", "other"
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    target: str | None = None  # symlinks

    @classmethod
    def from_reply(cls, r: dict[str, Any], path: str | None = None) -> FileStat:
        return cls(
            path=path or str(r.get("path", r.get("name", ""))),
            type=str(r["type"]),
            size=int(r["size"]),
            mode=int(r["mode"]),
            uid=int(r["uid"]),
            gid=int(r["gid"]),
            mtime=float(r["mtime"]),
            target=r.get("target"),
        )


@dataclass(frozen=True)
class DirEntry:
    name: str
    stat: FileStat


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # stopped | running | stopping | backoff | exited | failed | invalid
    pid: int | None = None
    restarts: int = 0
    exit: dict[str, Any] | None = None
    error: str | None = None
    port: int | None = None
    log: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> ServiceStatus:
        return cls(
            name=str(r["name"]),
            state=str(r["state"]),
            pid=r.get("pid"),
            restarts=int(r.get("restarts", 0)),
            exit=r.get("exit"),
            error=r.get("error"),
            port=r.get("port"),
            log=r.get("log"),
            raw=r,
        )


@dataclass(frozen=True)
class ServiceLogs:
    data: bytes
    offset: int
    next_offset: int
    size: int


@dataclass(frozen=True)
class GitStatus:
    path: str
    branch: str | None
    detached: bool
    head: str | None
    upstream: str | None
    ahead: int | None
    behind: int | None
    dirty: bool
    staged: int
    unstaged: int
    untracked: int
    conflicts: int
    added: int  # lines, working tree vs HEAD
    removed: int
    files: tuple[dict[str, Any], ...] = ()
    diff_files: tuple[dict[str, Any], ...] = ()
    last_commit: dict[str, Any] | None = None

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> GitStatus:
        diff = r.get("diff", {})
        return cls(
            path=str(r.get("path", "")),
            branch=r.get("branch"),
            detached=bool(r.get("detached")),
            head=r.get("head"),
            upstream=r.get("upstream"),
            ahead=r.get("ahead"),
            behind=r.get("behind"),
            dirty=bool(r.get("dirty")),
            staged=int(r.get("staged", 0)),
            unstaged=int(r.get("unstaged", 0)),
            untracked=int(r.get("untracked", 0)),
            conflicts=int(r.get("conflicts", 0)),
            added=int(diff.get("added", 0)),
            removed=int(diff.get("removed", 0)),
            files=tuple(r.get("files", ())),
            diff_files=tuple(diff.get("files", ())),
            last_commit=r.get("last_commit"),
        )


@dataclass(frozen=True)
class PtyInfo:
    session: str
    pid: int
    argv: tuple[str, ...]
    running: bool
    attached: int
    cols: int
    rows: int
    exit: dict[str, Any] | None = None

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> PtyInfo:
        return cls(
            session=str(r["session"]),
            pid=int(r["pid"]),
            argv=tuple(r.get("argv", ())),
            running=bool(r.get("running")),
            attached=int(r.get("attached", 0)),
            cols=int(r.get("cols", 0)),
            rows=int(r.get("rows", 0)),
            exit=r.get("exit"),
        )


@dataclass(frozen=True)
class FileChange:
    """A watched path's state, as `file.watch` reports it when it changes."""

    path: str
    exists: bool
    size: int
    mtime_ns: int

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> FileChange:
        return cls(
            path=str(r.get("path", "")),
            exists=bool(r.get("exists")),
            size=int(r.get("size", 0)),
            mtime_ns=int(r.get("mtime_ns", 0)),
        )
