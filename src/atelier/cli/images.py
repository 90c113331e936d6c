"""`atelier images build|list|rm` and `atelier images kernel build|list`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import typer

from atelier.cli import output
from atelier.cli._progress import BuildProgress
from atelier.config import load_config
from atelier.core.images import IMAGE_COLUMNS, KERNEL_COLUMNS, ImageRow, ImageService, KernelRow
from atelier.errors import ValidationError

GROUP = "images"
app = typer.Typer(help="Build, list and remove guest images and kernels.", no_args_is_help=True)
kernel_app = typer.Typer(help="The guest kernel (custom build or Debian cloud).")
app.add_typer(kernel_app, name="kernel", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Image name, e.g. minimal.")]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Rebuild every stage even if the recipe is unchanged.")
]
FlavourOpt = Annotated[
    str, typer.Option("--flavour", help="custom (built from linux-source) or cloud (Debian).")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Rebuild even when cached.")]


ArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        help="NAME=VALUE for a build argument the recipe declares (repeatable), e.g."
        " --arg gcloud_url=<URL> for dev-cloud.",
    ),
]


@app.command("build")
def build(
    name: NameArg,
    no_cache: NoCacheOpt = False,
    arg: ArgOpt = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Build an image from its recipe (needs root); an unchanged recipe is not rebuilt."""
    output.use_json(json_output)
    service = ImageService(load_config())
    args = _build_args(arg or [])
    with BuildProgress() as events:
        row = asyncio.run(service.build(name, no_cache=no_cache, events=events, args=args))
    output.show(row.as_json(), _images_view([row], "built" if not row.cached else "up to date"))


@app.command("list")
def list_images(json_output: output.JsonFlag = False) -> None:
    """List built images."""
    output.use_json(json_output)
    rows = ImageService(load_config()).images()
    output.show([row.as_json() for row in rows], _images_view(rows, "images"))


@app.command("rm")
def remove(name: NameArg, json_output: output.JsonFlag = False) -> None:
    """Remove a built image (sandboxes already cloned from it keep running)."""
    output.use_json(json_output)
    row = ImageService(load_config()).remove(name)
    output.show({"removed": row.image.name, "path": str(row.image.path)}, f"removed {name}")


@kernel_app.command("build")
def kernel_build(
    flavour: FlavourOpt = "custom", force: ForceOpt = False, json_output: output.JsonFlag = False
) -> None:
    """Build the custom kernel (about 7 min on 2 cores) or prepare the cloud one."""
    output.use_json(json_output)
    chosen = _flavour(flavour)
    service = ImageService(load_config())
    with BuildProgress() as events:
        row = asyncio.run(service.build_kernel(chosen, force=force, events=events))
    output.show(row.as_json(), _kernels_view([row]))


@kernel_app.command("list")
def kernel_list(json_output: output.JsonFlag = False) -> None:
    """List installed kernels; `current` marks the one each flavour boots with."""
    output.use_json(json_output)
    rows = ImageService(load_config()).kernels()
    output.show([row.as_json() for row in rows], _kernels_view(rows))


def _build_args(items: list[str]) -> dict[str, str]:
    args = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(
                f"--arg {item!r} is not NAME=VALUE",
                field="args",
                hint="e.g. --arg gcloud_url=<URL>",
            )
        args[key] = value
    return args


def _flavour(value: str) -> Literal["custom", "cloud"]:
    if value == "custom":
        return "custom"
    if value == "cloud":
        return "cloud"
    raise typer.BadParameter(
        f"{value!r} is not a kernel flavour (custom, cloud)", param_hint="--flavour"
    )


def _images_view(rows: list[ImageRow], title: str) -> object:
    if not rows:
        return "no images built yet: try `atelier images build minimal`"
    return output.table(title, IMAGE_COLUMNS, [row.cells() for row in rows])


def _kernels_view(rows: list[KernelRow]) -> object:
    if not rows:
        return "no kernels installed: try `atelier images kernel build`"
    return output.table("kernels", KERNEL_COLUMNS, [row.cells() for row in rows])
