"""The agent's single-threaded event loop: fds, timers, signals and child reaping.

Everything in the guest agent and init runs on one thread around `select.poll`, so processes
are forked from a single-threaded program (safe) and no locks exist. The loop is also the one
reaper: on SIGCHLD it calls `waitpid(-1)` and hands each status to whoever registered the pid
with `watch_child`; statuses of unregistered pids (orphans re-parented to PID 1 or to the
subreaper) are dropped. A failing callback is logged and never stops the loop.
"""

from __future__ import annotations

import heapq
import os
import select
import time

from atelier.guest import log, sigs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

IN = select.POLLIN
OUT = select.POLLOUT
HUP = select.POLLHUP
ERR = select.POLLERR | select.POLLNVAL


class Timer:
    """A scheduled callback; `cancel()` is idempotent."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when


class Loop:
    """poll(2) reactor with timers, signal dispatch and pid-keyed child statuses."""

    def __init__(self, *, signals: bool = True) -> None:
        self._poll = select.poll()
        self._fds: dict[int, Callable[[int], None]] = {}
        self._timers: list[Timer] = []
        self._soon: list[Callable[[], None]] = []
        self._children: dict[int, Callable[[int], None]] = {}
        self._signals: dict[int, Callable[[], None]] = {}
        self._running = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.watch(self._wake_r, IN, self._on_wakeup)
        if signals:  # off only for in-process unit tests, where asyncio owns the signals
            sigs.set_wakeup_fd(self._wake_w)
            self.on_signal(sigs.SIGCHLD, self.reap)

    # fds
    def watch(self, fd: int, events: int, callback: Callable[[int], None]) -> None:
        """Call `callback(revents)` when `fd` is ready for `events` (replaces a previous watch)."""
        if fd in self._fds:
            self._poll.modify(fd, events)
        else:
            self._poll.register(fd, events)
        self._fds[fd] = callback

    def modify(self, fd: int, events: int) -> None:
        if fd in self._fds:
            self._poll.modify(fd, events)

    def unwatch(self, fd: int) -> None:
        if self._fds.pop(fd, None) is not None:
            self._poll.unregister(fd)

    # time
    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._soon.append(callback)

    # processes and signals
    def watch_child(self, pid: int, callback: Callable[[int], None]) -> None:
        """Call `callback(waitstatus)` once `pid` has exited and been reaped."""
        self._children[pid] = callback

    def forget_child(self, pid: int) -> None:
        self._children.pop(pid, None)

    def on_signal(self, signum: int, callback: Callable[[], None]) -> None:
        self._signals[signum] = callback
        sigs.handle(signum, _note_signal)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self._children.pop(pid, None)
            if callback is not None:
                self._guard(callback, status)

    # running
    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        self._running = True
        while self._running:
            self.run_once()

    def run_once(self, max_wait: float | None = None) -> None:
        timeout = self._timeout(max_wait)
        for fd, revents in self._poll.poll(timeout):
            callback = self._fds.get(fd)
            if callback is not None:
                self._guard(callback, revents)
        self._run_timers()
        while self._soon:
            batch, self._soon = self._soon, []
            for func in batch:
                self._guard(func)

    def _timeout(self, max_wait: float | None) -> int:
        if self._soon:
            return 0
        wait = max_wait
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            until = max(0.0, self._timers[0].when - time.monotonic())
            wait = until if wait is None else min(wait, until)
        return -1 if wait is None else int(wait * 1000) + (1 if wait > 0 else 0)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0].when <= now:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                self._guard(timer.callback)

    def _on_wakeup(self, _revents: int) -> None:
        try:
            data = os.read(self._wake_r, 256)
        except BlockingIOError:
            return
        for signum in sorted(set(data)):
            callback = self._signals.get(signum)
            if callback is not None:
                self._guard(callback)

    def _guard(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("loop: callback failed")

    def close_in_child(self) -> None:
        """Drop the loop's signal plumbing in a forked child that will not run it."""
        sigs.reset_for_child()
        os.close(self._wake_r)
        os.close(self._wake_w)


def _note_signal(_signum: int, _frame: object) -> None:
    """Python-level handler; the C handler already wrote the number to the wakeup fd."""
