"""`atelier install firecracker`: install host components Debian does not ship."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from atelier.cli import output
from atelier.config import load_config
from atelier.core.install import FirecrackerInstall, install_firecracker

GROUP = "install"
app = typer.Typer(help="Install host components Debian does not ship.", no_args_is_help=True)

FromOpt = Annotated[
    str,
    typer.Option(
        "--from",
        help="Release tarball or directory (path), or tarball URL (https).",
        show_default=False,
    ),
]
Sha256Opt = Annotated[
    str | None,
    typer.Option("--sha256", help="Expected sha256 (default: a .sha256 file beside the source)."),
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow a plain http URL (the checksum is still checked).")
]


@app.command("firecracker")
def firecracker(
    source: FromOpt,
    sha256: Sha256Opt = None,
    insecure: InsecureOpt = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Verify a Firecracker + jailer release and install it where vmm.* points."""
    output.use_json(json_output)
    result = asyncio.run(
        install_firecracker(load_config(), source, sha256=sha256, insecure=insecure)
    )
    output.show(result.as_json(), _view(result))


def _view(result: FirecrackerInstall) -> str:
    return (
        f"installed Firecracker v{result.version} to {result.firecracker}\n"
        f"installed jailer v{result.jailer_version} to {result.jailer}\n"
        f"sha256 {result.sha256} verified\n"
        f"VMM selection: {result.vmm_driver} ({result.vmm_reason})"
    )
