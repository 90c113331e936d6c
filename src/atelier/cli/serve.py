"""`atelier serve`, `atelier up` and `atelier manager status`."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
import uvicorn

from atelier.api.app import create_app
from atelier.cli import output
from atelier.cli._progress import BuildProgress
from atelier.cli.app import run
from atelier.cli.client import connect
from atelier.config import AtelierConfig, load_config
from atelier.core.assembly import build_manager
from atelier.core.up import prepare
from atelier.web.dashboard import install_dashboard
from atelier.web.wiring import dashboard_sources

manager_app = typer.Typer(help="The manager service.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add `serve`, `up` and the `manager` group."""
    root.command("serve")(serve)
    root.command("up")(up)
    root.add_typer(manager_app, name="manager")


def _serve(config: AtelierConfig, host: str | None, port: int | None) -> None:
    logging.getLogger().setLevel(logging.INFO)
    manager = build_manager(config)
    if config.web.enabled:
        install_dashboard(manager, sources=dashboard_sources(manager))
    app = create_app(manager)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host or config.server.host,
            port=port or config.server.port,
            log_level="info",
            proxy_headers=True,
            ws_max_size=16 << 20,
        )
    )
    server.run()


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (server.port).")] = None,
) -> None:
    """Run the manager in the foreground (API, dashboard, background work).

    Stopping it leaves every sandbox running; the next start re-adopts them.
    """
    _serve(load_config(), host, port)


def up() -> None:
    """Prepare this host on the embedded defaults, then run the manager in the foreground."""
    config = load_config()
    # One line per preparation step; an image build (dev-base: minutes) shows its phases.
    with BuildProgress() as events:
        report = run(prepare(config, events.note, events=events))
    url = f"http://{config.server.host}:{config.server.port}"
    output.info(f"[bold]Atelier[/bold] on {url}  (API docs: {url}/swagger)")
    output.info(
        f"  kernel   {report.kernel}\n  image    {report.image}\n  storage  {report.storage}"
    )
    if report.token:
        output.info(
            f"  admin    {report.admin}; API token (shown once): [bold]{report.token}[/bold]"
        )
        output.info(
            f"  dashboard login (shown once): {report.admin} / [bold]{report.password}[/bold]"
            "  (change it with `atelier user passwd admin`)"
        )
        output.info(f"  the CLI is configured in {report.client_config}")
    for note in report.notes:
        output.info(f"  note: {note}")
    _serve(config, None, None)


@manager_app.command("status")
def status(json_output: output.JsonFlag = False) -> None:
    """Version, mode, drivers chosen and why, sandbox counts and health."""
    output.use_json(json_output)
    with connect() as api:
        _, health = api.get_status("/health")
        sandboxes = api.get("/api/sandboxes")
    counts: dict[str, int] = {}
    for sandbox in sandboxes:
        counts[sandbox["status"]] = counts.get(sandbox["status"], 0) + 1
    data: dict[str, Any] = {**health, "sandboxes": counts}
    rows = [
        (c["name"], "ok" if c["ok"] else "FAIL", c["detail"]) for c in health["checks"].values()
    ]
    table = output.table(
        f"manager {health['version']} ({health['mode']}), {health['status']}",
        ["check", "", "detail"],
        rows,
    )
    output.show(data, table)
    output.info(
        "sandboxes: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")
    )
