"""Everything the CLI writes goes through here.

Results go to stdout (`out`), progress, warnings and errors to stderr (`err`). With `--json`
a command writes exactly one JSON document to stdout. `NO_COLOR` is honoured by Rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from atelier.errors import AtelierError

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


@dataclass
class OutputState:
    """Global CLI output switches, set by the root callback."""

    json: bool = False
    debug: bool = False


state = OutputState()

# Every command that prints results takes `--json` after its name as well as before.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def use_json(flag: bool) -> None:
    """Switch to JSON output when a command's own --json flag is given."""
    if flag:
        state.json = True


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A plain Rich table with the given column headers."""
    tbl = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        tbl.add_column(column)
    for row in rows:
        tbl.add_row(*("" if cell is None else str(cell) for cell in row))
    return tbl


def show(data: Any, renderable: Any = None) -> None:
    """Print `data` as JSON under --json, otherwise the Rich `renderable` (or data)."""
    if state.json:
        emit_json(data)
    else:
        out.print(renderable if renderable is not None else data)


def info(message: str) -> None:
    """A progress or status line on stderr (never in --json output)."""
    err.print(message)


def warn(message: str) -> None:
    """A warning on stderr."""
    err.print(f"[yellow]warning:[/yellow] {message}")


def fail(error: AtelierError) -> None:
    """Report an error: the envelope as JSON under --json, else message and hint on stderr."""
    if state.json:
        emit_json(error.to_dict())
        return
    err.print(f"[red bold]error:[/red bold] {error.message}", markup=True, highlight=False)
    if error.hint:
        err.print(f"[dim]hint:[/dim] {error.hint}")


def plain(text: str) -> None:
    """Raw text to stdout (command output passed through)."""
    sys.stdout.write(text)
    sys.stdout.flush()
