"""Long build commands whose output goes to a log file while progress is reported.

`run_logged()` starts a command through `proc.spawn`, appends its stdout and stderr to a log
file, reports the elapsed time and the log's last line every second, and kills the command's
process group on timeout or cancellation. A failure raises CommandError with the log's tail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from atelier.errors import CommandError
from atelier.runtime.host import proc
from atelier.runtime.images.base import BuildEvents

_TICK = 1.0
_GRACE = 10.0


def last_line(path: Path, window: int = 4096) -> str:
    """The last non-empty line of a (growing) log file, or '' when there is none."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - window))
            chunk = fh.read()
    except OSError:
        return ""
    for line in reversed(chunk.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()
    return ""


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file."""
    try:
        text = path.read_bytes()[-65536:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


async def run_logged(
    argv: Sequence[proc.Arg],
    *,
    log: Path,
    timeout: float,
    events: BuildEvents,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str | None = None,
) -> None:
    """Run `argv` to completion, appending its output to `log`.

    Raises CommandError (with the log's tail) when the command fails or exceeds `timeout`,
    ToolMissing when the program is not installed.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        child = await proc.spawn(argv, stdout=out, stderr=out, cwd=cwd, env=env)
        try:
            code = await _wait(child, started, timeout, log, events)
        except BaseException:
            await _kill(child)
            raise
    if code is None:
        args = [os.fspath(a) for a in argv]
        raise CommandError(args, -signal.SIGKILL, f"timed out after {timeout:g} s", hint=hint)
    if code != 0:
        raise CommandError([os.fspath(a) for a in argv], code, tail(log), hint=hint)


async def _wait(
    child: asyncio.subprocess.Process,
    started: float,
    timeout: float,
    log: Path,
    events: BuildEvents,
) -> int | None:
    while True:
        try:
            return await asyncio.wait_for(child.wait(), _TICK)
        except TimeoutError:
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                await _kill(child)
                return None
            events.detail(last_line(log))


async def _kill(child: asyncio.subprocess.Process) -> None:
    # SIGTERM first: mmdebstrap unmounts what it mounted in the tree when asked to stop.
    await proc.stop_group(child, _GRACE)
