"""The `file.watch` operation: tell the host when files change, without the host polling.

The agent checks each watched path's identity (exists, inode, size, mtime) every `interval`
seconds on its own loop (one `stat` per path, no process, no thread) and sends an EVENT
`{"changes": [...]}` on the stream whenever one differs, starting with the current state.
The stream stays open until the host cancels it or the session ends, so a manager follows
many sandboxes' files with one idle stream each instead of polling every VM over the wire.
"""

from __future__ import annotations

import os

from atelier.guest import protocol as p
from atelier.guest.session import OpError, StreamHandler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.loop import Timer
    from atelier.guest.session import Args, Stream

MAX_PATHS = 16
MIN_INTERVAL_S = 0.1


def identity(path: str) -> dict[str, Any]:
    """What `file.watch` compares (and reports) for one path."""
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "exists": False, "size": 0, "mtime_ns": 0, "ino": 0}
    return {
        "path": path, "exists": True, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
        "ino": st.st_ino,
    }  # fmt: skip


class Watcher(StreamHandler):
    """Checks the paths on a timer and reports differences."""

    def __init__(self, agent: Agent, stream: Stream, paths: list[str], interval: float) -> None:
        self.agent = agent
        self.stream = stream
        self.paths = paths
        self.interval = interval
        self.seen = [identity(path) for path in paths]
        self.timer: Timer | None = None

    def start(self) -> None:
        self.stream.send_event({"changes": self.seen, "initial": True})
        self._schedule()

    def _schedule(self) -> None:
        self.timer = self.agent.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        if not self.stream.open:
            return
        current = [identity(path) for path in self.paths]
        changed = [now for now, before in zip(current, self.seen, strict=True) if now != before]
        self.seen = current
        if changed:
            self.stream.send_event({"changes": changed})
        self._schedule()

    def on_cancel(self, reason: str) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def op_watch(agent: Agent, stream: Stream, args: Args) -> None:
    paths = args.strings("paths")
    if not paths or len(paths) > MAX_PATHS:
        raise OpError(
            p.E_BAD_REQUEST, f"field 'paths' must list 1 to {MAX_PATHS} paths", field="paths"
        )
    for path in paths:
        if not path.startswith("/") or "\0" in path:
            raise OpError(p.E_BAD_REQUEST, f"paths must be absolute, got {path!r}", field="paths")
    interval = args.number("interval", 1.0, low=MIN_INTERVAL_S)
    assert interval is not None
    watcher = Watcher(agent, stream, [os.path.normpath(x) for x in paths], interval)
    stream.handler = watcher
    watcher.start()
