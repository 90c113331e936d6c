"""Guest logging: timestamped lines to a log file and, when asked, the console.

The `logging` package costs tens of milliseconds to import under TCG, so the guest writes plain
lines with `os.write`. Never raises: a logging failure must not take the agent down.
"""

from __future__ import annotations

import os
import sys
import time

_fds: list[int] = [2]
_console: list[int] = []


def configure(
    path: str | None = None,
    *,
    stderr: bool = True,
    console: str | None = None,
    verbose: bool = False,
) -> None:
    """Send lines to `path` (appended, created 0640) and/or stderr; `console` gets `notice()`s
    (and every line when `verbose`, for `atelier.debug=1`)."""
    _fds.clear()
    if stderr:
        _fds.append(2)
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640))
        except OSError as exc:
            _write([2], f"atelier: cannot open log {path}: {exc}")
    if console:
        try:
            _console.append(os.open(console, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC))
        except OSError:
            pass
        if verbose:
            _fds.extend(_console)


def _write(fds: list[int], line: str) -> None:
    data = line.encode("utf-8", "replace") + b"\n"
    for fd in fds:
        try:
            os.write(fd, data)
        except OSError:
            pass


def _line(level: str, message: str) -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1000):03d}Z {level} {message}"


def info(message: str) -> None:
    _write(_fds, _line("info", message))


def warn(message: str) -> None:
    _write(_fds, _line("warn", message))


def error(message: str) -> None:
    _write(_fds, _line("error", message))


def notice(message: str) -> None:
    """An important line: the log and the console (the host reads the console on failures)."""
    _write(_fds, _line("info", message))
    if not set(_console) <= set(_fds):
        _write(_console, f"atelier: {message}")


def exception(message: str) -> None:
    """`message` plus the traceback of the exception being handled."""
    import traceback

    detail = "".join(traceback.format_exception(*sys.exc_info())).rstrip()
    _write(_fds, _line("error", f"{message}\n{detail}"))
