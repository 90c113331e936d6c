"""`atelier update`: upgrade Atelier from a wheel or a package index, keep VMs running."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from atelier.cli import output
from atelier.cli.app import run
from atelier.config import config_path, load_config
from atelier.core import update as core_update
from atelier.errors import ValidationError


def register(root: typer.Typer) -> None:
    """Add `update`."""
    root.command("update")(update)


def update(
    wheel: Annotated[Path | None, typer.Option("--wheel", help="A built atelier wheel.")] = None,
    index_url: Annotated[
        str | None, typer.Option("--index-url", help="Package index to install from.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version to take from the index.")
    ] = None,
    venv: Annotated[
        Path | None, typer.Option("--venv", help="Environment to upgrade (default: this one).")
    ] = None,
    restart: Annotated[
        str, typer.Option("--restart", help="systemd, none, or pid:<PID> (a manager run by hand).")
    ] = "systemd",
    manager_log: Annotated[
        Path | None, typer.Option("--manager-log", help="With pid:<PID>: the new manager's log.")
    ] = None,
    no_deps: Annotated[
        bool, typer.Option("--no-deps", help="Install atelier alone, not its dependencies.")
    ] = False,
    uv: Annotated[
        str | None, typer.Option("--uv", help="uv to install with (default: found, else pip).")
    ] = None,
    migrate_only: Annotated[bool, typer.Option("--migrate-only", hidden=True)] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Install the new version, stop the manager, migrate, rewrite units, start it again.

    Sandboxes keep running throughout; the new manager re-adopts them.
    """
    output.use_json(json_output)
    config = load_config()
    if migrate_only:
        run(core_update.migrate(config))
        return
    if (wheel is None) == (index_url is None and version is None):
        raise ValidationError(
            "give either --wheel or --index-url/--version", field="wheel",
            hint="atelier update --wheel dist/atelier-1.2-py3-none-any.whl",
        )  # fmt: skip
    source = str(wheel.absolute()) if wheel else f"atelier=={version}" if version else "atelier"
    url = f"http://{config.server.host}:{config.server.port}"
    restarter = _restarter(restart, url, manager_log or config.paths.data_dir / "manager.log")
    extra = [["init", "--yes", "--only", "units"]] if restart == "systemd" else []
    with output.err.status("updating"):
        report = run(
            core_update.update(
                source, venv=(venv or Path(sys.prefix)).absolute(), config_file=config_path(),
                restarter=restarter, index_url=index_url, no_deps=no_deps, uv=uv, extra_steps=extra,
            )
        )  # fmt: skip
    output.show(report.to_dict(), "\n".join(report.steps))


def _restarter(value: str, url: str, log: Path) -> core_update.Restarter | None:
    if value == "systemd":
        return core_update.SystemdRestart()
    if value == "none":
        return None
    if value.startswith("pid:") and value[4:].isdigit():
        return core_update.ProcessRestart(int(value[4:]), config_path(), url, log)
    raise ValidationError(
        f"--restart {value!r} is not allowed; use systemd, none or pid:<PID>", field="restart"
    )
