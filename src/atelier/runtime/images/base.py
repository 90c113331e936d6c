"""How the image and kernel builders report progress, without knowing who listens.

Builders call a `BuildEvents` object: the CLI renders it with Rich, tests and the manager
pass `NullEvents` or their own recorder. Builders never print.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class BuildEvents(Protocol):
    """Receives the phases of a long build."""

    def phase(self, name: str) -> None:
        """A named phase (a recipe step, `mmdebstrap`, `make vmlinux`) has started."""

    def detail(self, text: str) -> None:
        """A short live detail for the running phase (last log line, a size)."""

    def done(self, name: str, seconds: float, summary: str = "") -> None:
        """The phase `name` finished after `seconds`; `summary` is shown beside it."""

    def note(self, text: str) -> None:
        """A one-off message (cache hit, a warning worth showing)."""


class NullEvents:
    """Ignores every event."""

    def phase(self, name: str) -> None:
        """Ignore."""

    def detail(self, text: str) -> None:
        """Ignore."""

    def done(self, name: str, seconds: float, summary: str = "") -> None:
        """Ignore."""

    def note(self, text: str) -> None:
        """Ignore."""
