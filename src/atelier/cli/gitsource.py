"""`atelier git-source …`: credentials for cloning private repositories (write-only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from atelier.cli import output
from atelier.cli.client import connect

GROUP = "git-source"
app = typer.Typer(
    help="Git credentials for private repos (never shown again).", no_args_is_help=True
)
COLUMNS = ["id", "name", "kind", "host", "username", "created"]


@app.command("list")
def list_(json_output: output.JsonFlag = False) -> None:
    """Your git sources (without their secrets)."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get("/api/git-sources")
    rows = [[s["id"], s["name"], s["kind"], s["host"] or "any", s["username"] or "",
             s["createdAt"][:19].replace("T", " ")] for s in found]  # fmt: skip
    output.show(found, output.table(None, COLUMNS, rows) if rows else "no git sources")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name workspaces refer to (repos[].source).")],
    kind: Annotated[str, typer.Option(help="github, https or ssh.")] = "github",
    host: Annotated[str | None, typer.Option(help="Only send it to this host.")] = None,
    username: Annotated[str | None, typer.Option(help="HTTPS user name.")] = None,
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="Token, password or private key file.")
    ] = None,
    known_hosts: Annotated[Path | None, typer.Option(help="known_hosts for ssh sources.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Add a source; the secret comes from --secret-file, stdin, or a hidden prompt."""
    output.use_json(json_output)
    if secret_file is not None:
        secret = secret_file.read_text()
    elif not sys.stdin.isatty():
        secret = sys.stdin.read()
    else:
        secret = typer.prompt("token, password or key", hide_input=True)
    body = {
        "name": name,
        "kind": kind,
        "host": host,
        "username": username,
        "secret": secret.strip(),
    }
    if known_hosts is not None:
        body["knownHosts"] = known_hosts.read_text()
    with connect() as api:
        found = api.post("/api/git-sources", json={k: v for k, v in body.items() if v is not None})
    output.show(found, f"git source {found['name']} ({found['id']}) added")


@app.command("rm")
def remove(
    ref: Annotated[str, typer.Argument(help="Id or name.")], json_output: output.JsonFlag = False
) -> None:
    """Remove a source."""
    output.use_json(json_output)
    with connect() as api:
        api.delete(f"/api/git-sources/{ref}")
    output.show({"removed": ref}, f"git source {ref} removed")
