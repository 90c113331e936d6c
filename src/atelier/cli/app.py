"""The root `atelier` command.

Each command group lives in its own module of this package and registers itself by defining
`GROUP` (the sub-command name) and `app` (a Typer app), or `register(root)` for top-level
commands. Errors derived from AtelierError are printed once, here, as message + hint (with a
traceback only under --debug).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from atelier import __version__
from atelier.cli import output
from atelier.errors import AtelierError

T = TypeVar("T")

root = typer.Typer(
    name="atelier",
    help="Atelier: microVM development sandboxes with VS Code, an AI agent and a browser inside.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        output.plain(f"atelier {__version__}\n")
        raise typer.Exit()


@root.callback()
def _main(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    output.state.json = json_output
    output.state.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion."""
    return asyncio.run(coro)


def _register_groups() -> None:
    import atelier.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in {"app", "output"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"atelier.cli.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(root)
        group = getattr(module, "GROUP", None)
        sub = getattr(module, "app", None)
        if group and isinstance(sub, typer.Typer):
            root.add_typer(sub, name=group)


_register_groups()


def main() -> None:
    """Console-script entry point."""
    try:
        root(standalone_mode=False)
    except AtelierError as exc:
        if output.state.debug:
            raise
        output.fail(exc)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (missing argument, bad option value, BadParameter) arrive here in
        # non-standalone mode; typer raises them from its bundled click, not `click`.
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(int(getattr(exc, "exit_code", 2)))
