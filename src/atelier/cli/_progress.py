"""Build progress on stderr: the running phase with its elapsed time, one line per finished phase.

Implements the images service's `BuildEvents`. On a terminal the running phase shows a
spinner, elapsed time and the last log line; elsewhere only the finished-phase lines appear.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from atelier.cli import output


class BuildProgress:
    """A context manager that renders build events with Rich."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or output.err
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            console=self._console,
            transient=True,
            disable=not self._console.is_terminal,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> BuildProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, name: str) -> None:
        """Show `name` as the running phase."""
        self._clear()
        self._task = self._progress.add_task(escape(name), detail="")

    def detail(self, text: str) -> None:
        """Show a live detail (last log line) beside the running phase."""
        if self._task is not None:
            width = max(20, self._console.width - 40)
            self._progress.update(self._task, detail=escape(text[:width]))

    def done(self, name: str, seconds: float, summary: str = "") -> None:
        """Print a finished phase with its duration and summary."""
        self._clear()
        extra = f"  [dim]{escape(summary)}[/dim]" if summary else ""
        self._console.print(f"[green]✓[/green] {escape(name)}  {seconds:.1f} s{extra}")

    def note(self, text: str) -> None:
        """Print a one-off message."""
        self._console.print(f"[dim]{escape(text)}[/dim]")

    def _clear(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
