"""File operations: read, write, list, stat, mkdir, remove.

Reads and writes are streams of raw DATA frames (binary-safe, no base64) under the stream's
credit window. A write goes to a temporary file beside the target and is renamed into place on
EOF, so a cancelled or oversized upload never leaves a half-written file; missing parent
directories are created with the requested owner. Paths must be absolute; every OSError
becomes an error naming the action and the path.
"""

from __future__ import annotations

import os
import stat

from atelier.guest import protocol as p
from atelier.guest.session import OpError, StreamHandler, os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.session import Args, Stream

LIST_LIMIT = 10_000
_seq = [0]


def describe(st: os.stat_result) -> dict[str, Any]:
    mode = st.st_mode
    kind = (
        "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode)
        else "symlink" if stat.S_ISLNK(mode) else "other"
    )  # fmt: skip
    return {
        "type": kind, "size": st.st_size, "mode": stat.S_IMODE(mode), "uid": st.st_uid,
        "gid": st.st_gid, "mtime": st.st_mtime,
    }  # fmt: skip


def op_stat(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    path = args.path()
    try:
        st = os.stat(path) if args.flag("follow", True) else os.lstat(path)
    except OSError as exc:
        raise os_error(exc, "stat", path) from None
    result = describe(st)
    result["path"] = path
    if result["type"] == "symlink":
        result["target"] = os.readlink(path)
    return result


def op_list(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    path = args.path()
    limit = args.integer("limit", LIST_LIMIT, low=1, high=100_000) or LIST_LIMIT
    try:
        with os.scandir(path) as it:
            names = sorted(entry.name for entry in it)
    except OSError as exc:
        raise os_error(exc, "list", path) from None
    entries = []
    for name in names[:limit]:
        full = os.path.join(path, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue  # vanished while listing
        item = describe(st)
        item["name"] = name
        if item["type"] == "symlink":
            try:
                item["target"] = os.readlink(full)
            except OSError:
                item["target"] = None
        entries.append(item)
    return {"path": path, "entries": entries, "truncated": len(names) > limit}


def resolve_owner(owner: object) -> tuple[int, int] | None:
    """`owner` as (uid, gid): "user", "user:group", "uid:gid" or an int uid; None = unchanged."""
    if owner is None or owner == "":
        return None
    import grp
    import pwd

    try:
        if isinstance(owner, int) and not isinstance(owner, bool):
            return owner, pwd.getpwuid(owner).pw_gid
        if not isinstance(owner, str):
            raise KeyError(owner)
        user, _, group = owner.partition(":")
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        gid = entry.pw_gid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        return entry.pw_uid, gid
    except (KeyError, ValueError):
        raise OpError(
            p.E_BAD_REQUEST,
            f"owner {owner!r} is not a known user, user:group or uid:gid in the guest",
            field="owner",
        ) from None


def make_dirs(path: str, owner: tuple[int, int] | None, mode: int = 0o755) -> list[str]:
    """Create `path` and missing parents, each owned by `owner`; returns the created ones."""
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
            if owner is not None:
                os.chown(directory, *owner)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise os_error(
                    FileExistsError(17, "a file is in the way"), "create directory", directory
                ) from None
        except OSError as exc:
            raise os_error(exc, "create directory", directory) from None
        created.append(directory)
    return created


def op_mkdir(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    path = args.path()
    owner = resolve_owner(args.data.get("owner"))
    mode = args.integer("mode", 0o755, low=0, high=0o7777) or 0o755
    if not args.flag("parents", True) and not os.path.isdir(os.path.dirname(path)):
        raise OpError(p.E_NOT_FOUND, f"parent of {path} does not exist", field="path")
    return {"path": path, "created": make_dirs(path, owner, mode)}


def op_remove(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    path = args.path()
    if path == "/":
        raise OpError(p.E_BAD_REQUEST, "refusing to remove /", field="path")
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            if args.flag("recursive"):
                import shutil

                shutil.rmtree(path)
            else:
                os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        if not args.flag("missing_ok"):
            raise OpError(p.E_NOT_FOUND, f"{path} does not exist", field="path") from None
        return {"path": path, "removed": False}
    except OSError as exc:
        raise os_error(exc, "remove", path) from None
    return {"path": path, "removed": True}


def op_read(agent: Agent, stream: Stream, args: Args) -> None:
    FileReader(agent, stream, args).start()


class FileReader(StreamHandler):
    """Sends a file (or a range of it) as DATA on CH_OUT, paced by credit."""

    def __init__(self, agent: Agent, stream: Stream, args: Args) -> None:
        self.stream = stream
        self.path = args.path()
        self.offset = args.integer("offset", 0, low=0) or 0
        self.length = args.integer("length", low=0)
        self.max_size = args.integer("max_size", agent.config.max_file_size, low=0) or 0
        self.fd = -1
        self.left = 0
        self.sent = 0

    def start(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            st = os.fstat(self.fd)
        except OSError as exc:
            self._close()
            raise os_error(exc, "read", self.path) from None
        if stat.S_ISDIR(st.st_mode):
            self._close()
            raise OpError(
                p.E_IS_A_DIRECTORY, f"{self.path} is a directory; use file.list", field="path"
            )
        # /proc and /sys files claim size 0: read those until EOF, bounded by max_size.
        sized = stat.S_ISREG(st.st_mode) and st.st_size > 0
        available = max(0, st.st_size - self.offset) if sized else self.max_size + 1
        self.left = available if self.length is None else min(self.length, available)
        if sized and self.left > self.max_size:
            self._close()
            raise OpError(
                p.E_TOO_LARGE,
                f"{self.path} has {self.left} bytes to read; the limit is {self.max_size}",
                field="max_size",
                hint="read it in ranges with offset/length, or raise max_size",
            )
        if self.offset:
            os.lseek(self.fd, self.offset, os.SEEK_SET)
        self.stream.handler = self
        self.stream.send_event({"stat": describe(st)})
        self._pump()

    def _pump(self) -> None:
        while self.left > 0 and self.stream.credit[p.CH_OUT] > 0:
            want = min(self.left, p.MAX_DATA_CHUNK, self.stream.credit[p.CH_OUT])
            try:
                data = os.read(self.fd, want)
            except OSError as exc:
                self._close()
                self.stream.handler = None
                self.stream.fail_with(os_error(exc, "read", self.path))
                return
            if not data:
                break
            self.sent += len(data)
            self.left -= len(data)
            self.stream.send_data(p.CH_OUT, data)
            if self.sent > self.max_size:  # a growing non-regular file
                self._close()
                self.stream.handler = None
                self.stream.fail(p.E_TOO_LARGE, f"{self.path} exceeded {self.max_size} bytes")
                return
        else:
            if self.left > 0:
                return  # wait for credit
        self._close()
        self.stream.send_eof(p.CH_OUT)
        self.stream.handler = None
        self.stream.reply({"path": self.path, "bytes": self.sent})

    def on_window(self, channel: int) -> None:
        if self.fd >= 0:
            self._pump()

    def on_cancel(self, reason: str) -> None:
        self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def op_write(agent: Agent, stream: Stream, args: Args) -> None:
    FileWriter(agent, stream, args).start()


class FileWriter(StreamHandler):
    """Receives DATA on CH_IN into a temporary file, renamed over the target on EOF."""

    def __init__(self, agent: Agent, stream: Stream, args: Args) -> None:
        self.stream = stream
        self.path = args.path()
        self.mode = args.integer("mode", low=0, high=0o7777)
        self.owner = resolve_owner(args.data.get("owner"))
        self.append = args.flag("append")
        self.sync = args.flag("sync")
        self.mkdirs = args.flag("mkdirs", True)
        self.max_size = args.integer("max_size", agent.config.max_file_size, low=0) or 0
        expected = args.integer("size", low=0)
        if expected is not None and expected > self.max_size:
            raise OpError(
                p.E_TOO_LARGE,
                f"{expected} bytes exceed the {self.max_size}-byte limit",
                field="size",
            )
        self.fd = -1
        self.tmp: str | None = None
        self.written = 0

    def start(self) -> None:
        parent = os.path.dirname(self.path)
        if self.mkdirs:
            make_dirs(parent, self.owner)
        try:
            existing: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise os_error(exc, "write", self.path) from None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise OpError(p.E_IS_A_DIRECTORY, f"{self.path} is a directory", field="path")
        if self.mode is None:
            self.mode = stat.S_IMODE(existing.st_mode) if existing else 0o644
        if self.owner is None and existing is not None:
            self.owner = (existing.st_uid, existing.st_gid)
        try:
            if self.append:
                self.fd = os.open(
                    self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, self.mode
                )
            else:
                _seq[0] += 1
                self.tmp = (
                    f"{parent}/.{os.path.basename(self.path)}.atelier-{os.getpid()}-{_seq[0]}"
                )
                self.fd = os.open(
                    self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
                )
        except OSError as exc:
            raise os_error(exc, "write", self.path) from None
        self.stream.handler = self

    def on_data(self, channel: int, data: bytes) -> None:
        if self.fd < 0:
            return
        if self.written + len(data) > self.max_size:
            self._abort(
                OpError(
                    p.E_TOO_LARGE,
                    f"upload to {self.path} exceeds {self.max_size} bytes",
                    field="max_size",
                )
            )
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self._abort(os_error(exc, "write", self.path))
            return
        self.written += len(data)
        self.stream.grant(p.CH_IN, len(data))

    def on_eof(self, channel: int) -> None:
        if self.fd < 0:
            return
        try:
            assert self.mode is not None
            os.fchmod(self.fd, self.mode)
            if self.owner is not None:
                os.fchown(self.fd, *self.owner)
            if self.sync:
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            if self.tmp is not None:
                os.rename(self.tmp, self.path)
                self.tmp = None
        except OSError as exc:
            self._abort(os_error(exc, "write", self.path))
            return
        self.stream.handler = None
        self.stream.reply({"path": self.path, "bytes": self.written})

    def _abort(self, error: OpError) -> None:
        self.on_cancel(error.message)
        self.stream.handler = None
        self.stream.fail_with(error)

    def on_cancel(self, reason: str) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None
