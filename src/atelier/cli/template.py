"""`atelier template …`: session templates (built-in, global, per-workspace overrides)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from atelier.cli import output
from atelier.cli.client import connect

GROUP = "template"
app = typer.Typer(help="Session templates for AI tasks.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Template id, e.g. implement.")]
WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", help="A workspace's merged set or overrides.")
]


def _params(workspace: str | None) -> dict[str, str]:
    return {"workspaceId": workspace} if workspace else {}


def _detail(t: dict[str, Any]) -> Group:
    lines = [Text(f"{t['id']}  {t['name']}  ({t['category']}, {t['source']})", style="bold")]
    if t.get("description"):
        lines.append(Text(f"  {t['description']}"))
    for effort in t["efforts"]:
        mark = "*" if effort["name"] == t["defaultEffort"] else " "
        extra = ", ".join(f"{k} {effort[k]}" for k in ("variant", "agent") if effort.get(k))
        lines.append(Text(f" {mark} {effort['name']:<10} {effort['model']}  {extra}"))
    lines.append(Text(""))
    lines.append(Text(t["prompt"], style="dim"))
    return Group(*lines)


@app.command("list")
def list_(workspace: WorkspaceOpt = None, json_output: output.JsonFlag = False) -> None:
    """The templates in effect."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get("/api/session-templates", **_params(workspace))
    rows = [[t["id"], t["name"], t["category"], t["defaultEffort"], t["source"]] for t in found]
    output.show(found, output.table(None, ["id", "name", "category", "default", "source"], rows))


@app.command("show")
def show(
    template_id: IdArg, workspace: WorkspaceOpt = None, json_output: output.JsonFlag = False
) -> None:
    """One template with its efforts and prompt."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/session-templates/{template_id}", **_params(workspace))
    output.show(found, _detail(found))


@app.command("set")
def set_(
    template_id: IdArg,
    file: Annotated[Path, typer.Argument(help="JSON file with the template (- = stdin).")],
    workspace: WorkspaceOpt = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Create or replace a global template, or a workspace override (fields left out are kept)."""
    output.use_json(json_output)
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="FILE") from exc
    with connect() as api:
        path = f"/api/session-templates/{template_id}"
        saved = api.request("PUT", path, json=body, params=_params(workspace))
    output.show(saved, _detail(saved))


@app.command("rm")
def remove(
    template_id: IdArg, workspace: WorkspaceOpt = None, json_output: output.JsonFlag = False
) -> None:
    """Delete a stored template or override (built-ins come back)."""
    output.use_json(json_output)
    with connect() as api:
        api.request("DELETE", f"/api/session-templates/{template_id}", params=_params(workspace))
    output.show({"deleted": template_id}, f"deleted {template_id}")
