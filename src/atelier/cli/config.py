"""`atelier config show|schema|path`: inspect the effective configuration."""

from __future__ import annotations

import json

import typer

from atelier.cli import output
from atelier.config import config_path, json_schema, load_config, public_view

GROUP = "config"
app = typer.Typer(help="Show the effective configuration and its schema.", no_args_is_help=True)


@app.command("show")
def show(json_output: output.JsonFlag = False) -> None:
    """Print the effective configuration (environment > file > defaults), secrets masked."""
    output.use_json(json_output)
    data = public_view(load_config())
    output.show(data, json.dumps(data, indent=2))


@app.command("schema")
def schema() -> None:
    """Print the JSON schema of the config file."""
    output.emit_json(json_schema())


@app.command("path")
def path(json_output: output.JsonFlag = False) -> None:
    """Print which config file is in effect and whether it exists."""
    output.use_json(json_output)
    file = config_path()
    data = {"path": str(file), "exists": file.exists()}
    output.show(data, f"{file} ({'exists' if file.exists() else 'missing: defaults apply'})")
