"""Every allocation registers its undo.

`Rollback` is an async context manager. Each step that allocates something registers its
compensation right after it succeeds. If the block fails or is cancelled, the undos run in
reverse order, shielded from cancellation; their own failures are gathered and logged, and
the original error propagates. On success the undos are dropped (`keep()` can also be
called explicitly to commit early).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger(__name__)

Undo = Callable[[], Awaitable[object]]


class Rollback:
    """A stack of compensations for one multi-step operation."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._undos: list[tuple[str, Undo]] = []
        self.failures: list[BaseException] = []

    def push(self, description: str, undo: Undo) -> None:
        """Register how to undo what was just allocated."""
        self._undos.append((description, undo))

    def keep(self) -> None:
        """Commit: forget every registered undo."""
        self._undos.clear()

    async def __aenter__(self) -> Rollback:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.keep()
            return
        # Shield so a cancelled spawn still frees what it allocated.
        await asyncio.shield(self.unwind())

    async def unwind(self) -> None:
        """Run every registered undo in reverse order, collecting failures."""
        while self._undos:
            description, undo = self._undos.pop()
            try:
                await undo()
            except Exception as exc:
                self.failures.append(exc)
                log.exception("%s: undo of %r failed", self.label, description)
        if self.failures:
            log.error(
                "%s: %d undo step(s) failed; resources may need `atelier doctor`",
                self.label,
                len(self.failures),
            )
