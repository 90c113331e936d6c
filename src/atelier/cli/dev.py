"""`atelier sandbox dev …`: a sandbox's dev commands (added to the `sandbox` group)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from atelier.cli import output
from atelier.cli.client import connect

app = typer.Typer(help="Dev commands (dev servers) of a sandbox.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Sandbox id.")]
NameArg = Annotated[str, typer.Argument(help="Dev command name.")]
COLUMNS = ["name", "state", "pid", "port", "url", "visibility", "command"]


def _row(d: dict[str, Any]) -> list[Any]:
    return [d["name"], d["state"], d["pid"] or "", d["port"] or "", d["url"] or "",
            d["visibility"], d["command"]]  # fmt: skip


@app.command("list")
def list_(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """The sandbox's dev commands with their state and URL."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/sandboxes/{sandbox_id}/dev")
    output.show(found, output.table(None, COLUMNS, [_row(d) for d in found]) if found else "none")


def _action(sandbox_id: str, name: str, verb: str, json_output: bool) -> None:
    output.use_json(json_output)
    with connect(timeout=180) as api:
        found = api.post(f"/api/sandboxes/{sandbox_id}/dev/{name}/{verb}")
    output.show(found, output.table(None, COLUMNS, [_row(found)]))


@app.command("start")
def start(sandbox_id: IdArg, name: NameArg, json_output: output.JsonFlag = False) -> None:
    """Start a dev command (its URL is published when it has a port)."""
    _action(sandbox_id, name, "start", json_output)


@app.command("stop")
def stop(sandbox_id: IdArg, name: NameArg, json_output: output.JsonFlag = False) -> None:
    """Stop a dev command."""
    _action(sandbox_id, name, "stop", json_output)


@app.command("restart")
def restart(sandbox_id: IdArg, name: NameArg, json_output: output.JsonFlag = False) -> None:
    """Restart a dev command."""
    _action(sandbox_id, name, "restart", json_output)


@app.command("logs")
def logs(
    sandbox_id: IdArg,
    name: NameArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream as it writes.")] = False,
    lines: Annotated[int, typer.Option(help="Lines of history with --follow.")] = 100,
    tail: Annotated[int, typer.Option(help="Last N bytes without --follow.")] = 65536,
) -> None:
    """A dev command's output."""
    with connect(timeout=None) as api:
        if not follow:
            found = api.get(f"/api/sandboxes/{sandbox_id}/dev/{name}/logs", tail=tail)
            output.plain(found["text"])
            return
        path = f"/api/sandboxes/{sandbox_id}/dev/{name}/logs?follow=true&lines={lines}"
        with api.stream("GET", path) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    output.plain(json.loads(line[5:]).get("text", ""))
