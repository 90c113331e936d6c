"""Prebuild logs: a file per build, written as output arrives, followed live by readers.

`BuildLog.write` appends to `<data_dir>/prebuilds/<id>.log` (0600) and wakes every
follower at once; `follow` yields what is there from an offset, then each new piece as it
is written, until the build closes its log. No polling: followers wait on an event the
writer sets. Logs hold command output only; secrets never enter a prebuild.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

MAX_READ = 1 << 20


class BuildLog:
    """One build's log file and the followers waiting for more of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "ab", buffering=0)
        self._changed = asyncio.Event()
        self.closed = False

    def write(self, text: str) -> None:
        """Append text and wake followers."""
        if self.closed or not text:
            return
        self._file.write(text.encode("utf-8", "replace"))
        self._wake()

    def close(self) -> None:
        """No more output: followers finish after reading the rest."""
        if not self.closed:
            self.closed = True
            self._file.close()
            self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, offset: int = 0) -> AsyncIterator[tuple[str, int]]:
        """(text, next offset) from `offset` on, live, until the log is closed."""
        while True:
            waiter = self._changed
            text, offset = read_chunk(self.path, offset)
            if text:
                yield text, offset
                continue
            if self.closed:
                return
            await waiter.wait()


def read_chunk(path: Path, offset: int, limit: int = MAX_READ) -> tuple[str, int]:
    """Text from `offset` (at most `limit` bytes, cut at a line end when it can) and the
    offset after it; ("", offset) when nothing new is there."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(limit)
    except FileNotFoundError:
        return "", offset
    if len(data) == limit and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    try:
        return data.decode("utf-8"), offset + len(data)
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            # Never split a UTF-8 sequence: leave the incomplete tail for the next read.
            data = data[: exc.start]
        return data.decode("utf-8", "replace"), offset + len(data)
