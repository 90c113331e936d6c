"""`atelier doctor`: every host requirement, ok or missing, with the exact fix."""

from __future__ import annotations

from typing import Annotated

import typer

from atelier.cli import output
from atelier.cli.app import run
from atelier.config import load_config
from atelier.core.doctor import Requirements


def register(root: typer.Typer) -> None:
    """Add `doctor`."""
    root.command("doctor")(doctor)


def doctor(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a required item is missing.")
    ] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """List every requirement (OS, KVM, tools, drivers, kernel, images, caches, units)."""
    output.use_json(json_output)
    found = run(Requirements(load_config()).all())
    rows = [
        (r.name, "ok" if r.ok else ("MISSING" if r.required else "missing"), r.detail, r.fix)
        for r in found
    ]
    table = output.table("atelier doctor", ["requirement", "", "found", "fix"], rows)
    output.show({"requirements": [r.to_dict() for r in found]}, table)
    if strict and any(r.required and not r.ok for r in found):
        raise typer.Exit(1)
