"""Signal numbers and handlers through `_signal`.

`signal` wraps `_signal` in enums, and importing `enum` costs ~70 ms under TCG on the agent's
start-up path; the numbers and functions are the same.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; the public `signal` re-exports it

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[int, Any], None] | int

SIG_DFL: int = _signal.SIG_DFL
SIG_IGN: int = _signal.SIG_IGN
SIGHUP: int = _signal.SIGHUP
SIGINT: int = _signal.SIGINT
SIGQUIT: int = _signal.SIGQUIT
SIGKILL: int = _signal.SIGKILL
SIGUSR1: int = _signal.SIGUSR1
SIGUSR2: int = _signal.SIGUSR2
SIGPIPE: int = _signal.SIGPIPE
SIGTERM: int = _signal.SIGTERM
SIGCHLD: int = _signal.SIGCHLD
SIGCONT: int = _signal.SIGCONT
SIGSTOP: int = _signal.SIGSTOP
SIGXFSZ: int = _signal.SIGXFSZ
SIGWINCH: int = _signal.SIGWINCH

BY_NAME: dict[str, int] = {
    "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "USR1": SIGUSR1,
    "USR2": SIGUSR2, "TERM": SIGTERM, "CONT": SIGCONT, "STOP": SIGSTOP, "WINCH": SIGWINCH,
}  # fmt: skip
# Signals Python or the agent changes; a child gets them back at their defaults.
_TOUCHED = (SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGTERM, SIGCHLD, SIGXFSZ)


def handle(signum: int, handler: Handler) -> None:
    _signal.signal(signum, handler)


def set_wakeup_fd(fd: int) -> int:
    old: int = _signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return old


def parse(value: object) -> int:
    """A signal given as a number or a name (`TERM`, `SIGTERM`); ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65:
        return value
    if isinstance(value, str):
        name = value.upper().removeprefix("SIG")
        if name in BY_NAME:
            return BY_NAME[name]
    raise ValueError(f"unknown signal {value!r}; use a number or one of {', '.join(BY_NAME)}")


def name(signum: int) -> str:
    for key, number in BY_NAME.items():
        if number == signum:
            return "SIG" + key
    return f"signal {signum}"


def reset_for_child() -> None:
    """Default dispositions, an empty mask and no wakeup fd (call between fork and exec)."""
    _signal.set_wakeup_fd(-1)
    for signum in _TOUCHED:
        _signal.signal(signum, SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
