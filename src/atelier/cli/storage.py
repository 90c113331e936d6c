"""`atelier storage setup|status|list`: the sandbox volume pool."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table

from atelier.cli import output
from atelier.config import load_config
from atelier.core.storage import (
    SYSTEMD_UNIT_DIR,
    SetupResult,
    StorageService,
    StorageStatus,
    VolumeRow,
    format_bytes,
)

GROUP = "storage"
app = typer.Typer(
    help="The sandbox volume pool: set it up, show its state and volumes.", no_args_is_help=True
)


SizeOpt = Annotated[
    int | None, typer.Option("--size-gb", min=1, help="Size of a new pool image in GiB.")
]
FsOpt = Annotated[str | None, typer.Option("--fs", help="btrfs or xfs (default storage.pool_fs).")]
ImageOpt = Annotated[Path | None, typer.Option("--image", help="The pool image file.")]
PoolDirOpt = Annotated[Path | None, typer.Option("--pool-dir", help="Where to mount the pool.")]
UnitDirOpt = Annotated[Path, typer.Option("--unit-dir", help="Where the boot mount unit goes.")]
NoUnitOpt = Annotated[bool, typer.Option("--no-unit", help="Do not write a boot mount unit.")]


@app.command("setup")
def setup(
    size_gb: SizeOpt = None,
    fs: FsOpt = None,
    image: ImageOpt = None,
    pool_dir: PoolDirOpt = None,
    unit_dir: UnitDirOpt = SYSTEMD_UNIT_DIR,
    no_unit: NoUnitOpt = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Create and mount a reflink pool if the pool directory cannot reflink (idempotent)."""
    output.use_json(json_output)
    service = StorageService(load_config())
    result = asyncio.run(
        service.setup(
            size_gb=size_gb,
            fs=fs,
            image=image,
            pool_dir=pool_dir,
            unit_dir=None if no_unit else unit_dir,
        )
    )
    output.show(result.as_json(), _setup_view(result))


@app.command("status")
def status(json_output: output.JsonFlag = False) -> None:
    """Show the driver (and why), pool size, free space, reserve and sharing."""
    output.use_json(json_output)
    result = asyncio.run(StorageService(load_config()).status())
    if result.fallback and not output.state.json:
        output.warn("storage uses the slow copy driver: see the reason below")
    output.show(result.as_json(), _status_view(result))


@app.command("list")
def list_volumes(json_output: output.JsonFlag = False) -> None:
    """List every Atelier volume in the pool with its space usage."""
    output.use_json(json_output)
    rows = asyncio.run(StorageService(load_config()).volumes())
    output.show([row.as_json() for row in rows], _volumes_view(rows))


def _setup_view(result: SetupResult) -> Group:
    done = list(result.actions) or ["nothing to do: the pool is in place"]
    lines = [f"• {line}" for line in (*done, *result.notes)]
    verdict = "reflink works" if result.reflink else "NO reflink"
    summary = f"pool {result.pool_dir}: {verdict} ({result.reason})"
    return Group(*lines, summary)


def _status_view(result: StorageStatus) -> Table:
    pool = result.usage.pool
    rows = [
        ("driver", result.driver),
        ("why", result.reason),
        ("pool", pool.pool),
        ("filesystem", pool.fs),
        ("size", format_bytes(pool.total)),
        ("used", format_bytes(pool.used)),
        ("free", format_bytes(pool.free)),
        ("reserve", format_bytes(pool.reserve)),
        ("level", pool.level),
        ("volumes", str(pool.volumes)),
        ("shared", format_bytes(pool.shared)),
        ("exclusive", format_bytes(pool.exclusive)),
    ]
    table = Table(title="storage", show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def _volumes_view(rows: list[VolumeRow]) -> Table:
    columns = (
        "name",
        "kind",
        "size",
        "allocated",
        "shared",
        "exclusive",
        "origin",
        "ro",
        "created",
    )
    cells = []
    for row in rows:
        volume, usage = row.volume, row.usage
        cells.append(
            (
                volume.name,
                volume.kind,
                format_bytes(volume.size),
                format_bytes(usage.allocated if usage else None),
                format_bytes(usage.shared if usage else None),
                format_bytes(usage.exclusive if usage else None),
                volume.origin or "-",
                "yes" if volume.read_only else "",
                volume.created.strftime("%Y-%m-%d %H:%M"),
            )
        )
    return output.table("volumes", columns, cells)
