"""One build at a time per cache: a non-blocking `flock` on a lock file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atelier.errors import Conflict


@contextmanager
def build_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path`; Conflict when another build holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(
                f"another {what} build is running (lock {path} is held)",
                hint="wait for it to finish, then run the command again",
            ) from exc
        yield
    finally:
        os.close(fd)
