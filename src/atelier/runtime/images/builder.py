"""Building images without Docker: mmdebstrap, chroot steps, `mkfs.ext4 -d`, manifest.

Each recipe's finished tree is kept in `<cache_dir>/images/stages/<name>-<hash16>/rootfs`.
A child recipe starts from a copy of its parent's tree (`cp -a --reflink=auto`), so
`dev-cloud` runs only its own steps; an unchanged recipe (same hash) is not rebuilt.
The image is made in `<paths.images>/.tmp-*` and renamed into `<paths.images>/<name>/` only
when complete; a failed build leaves neither a half image nor a temporary tree behind.
Image builds need root (mmdebstrap --mode=root, chroot, ownership in mkfs).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.errors import Forbidden
from atelier.runtime.host import detect, proc
from atelier.runtime.images import catalog, manifest, trees
from atelier.runtime.images.base import BuildEvents, NullEvents
from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.lock import build_lock
from atelier.runtime.images.logged import run_logged
from atelier.runtime.images.recipe import Recipe, build_arg_notes, build_arg_values, recipe_hash
from atelier.runtime.images.recipes import recipe_chain
from atelier.runtime.images.steps import AptInstall, StepContext

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

MiB = 1 << 20
DPKG_EXCLUDES = (
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/info/*",
)
KERNEL_COMPAT = {"flavours": ["custom", "cloud"], "min_version": "6.1", "root_device": "/dev/vda"}


@dataclass(frozen=True)
class BuildResult:
    """A build's outcome: the image, and whether the cached one was reused."""

    image: BuiltImage
    cached: bool


@dataclass(frozen=True)
class _Build:
    config: AtelierConfig
    chain: list[Recipe]
    hashes: list[str]
    events: BuildEvents
    force: bool
    args: dict[str, str]

    @property
    def cache(self) -> Path:
        return self.config.paths.cache_dir / "images"

    def stage(self, index: int) -> Path:
        return self.cache / "stages" / f"{self.chain[index].name}-{self.hashes[index][:16]}"

    def log(self, index: int) -> Path:
        return self.cache / "logs" / f"{self.chain[index].name}-{self.hashes[index][:16]}.log"


async def build_image(
    config: AtelierConfig,
    name: str,
    *,
    no_cache: bool = False,
    events: BuildEvents | None = None,
    args: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build image `name` from its recipe, or return the built one when its hash matches.

    `args` (over `images.build_args`) gives values to the build arguments the recipe chain
    declares. Raises RecipeNotFound, ValidationError (bad name, undeclared build argument),
    Forbidden (not root), Conflict (a build is running), CommandError/ToolMissing/
    ImageBuildError when a step fails.
    """
    chain = recipe_chain(name)
    return await build_chain(config, chain, no_cache=no_cache, events=events, args=args)


async def build_chain(
    config: AtelierConfig,
    chain: list[Recipe],
    *,
    no_cache: bool = False,
    events: BuildEvents | None = None,
    args: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build the last recipe of `chain` (root first, each the parent of the next).

    `build_image()` loads the chain from the recipe modules; this entry point takes recipe
    objects directly (tests, recipes defined outside the package). Errors as build_image.
    """
    for parent, child in itertools.pairwise(chain):
        if child.parent != parent.name:
            raise ValueError(
                f"recipe {child.name!r} has parent {child.parent!r}, not {parent.name!r}"
            )
    name = chain[-1].name
    values = build_arg_values(chain, config.images.build_args, args or {})
    hashes = [recipe_hash(chain[: i + 1], values) for i in range(len(chain))]
    build = _Build(config, chain, hashes, events or NullEvents(), no_cache, values)
    existing = catalog.load(catalog.image_dir(config, name))
    if not no_cache and existing and existing.manifest.recipe_hash == hashes[-1]:
        build.events.note(f"{name} is up to date (recipe {hashes[-1][:16]})")
        return BuildResult(existing, cached=True)
    if not detect.is_root():
        raise Forbidden(
            "building images needs root (mmdebstrap --mode=root, chroot, file ownership)",
            hint=f"run: sudo atelier images build {name}",
        )
    with build_lock(build.cache / ".lock", "image"):
        started = time.monotonic()
        stage = await _ensure_stage(build, len(chain) - 1)
        image = await _export(build, stage, started)
    return BuildResult(image, cached=False)


async def _ensure_stage(build: _Build, index: int) -> Path:
    recipe, final = build.chain[index], build.stage(index)
    if not build.force and (final / "stage.json").is_file():
        build.events.note(f"{recipe.name}: reusing the cached tree {final.name}")
        return final
    parent = await _ensure_stage(build, index - 1) if index > 0 else None
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    log = build.log(index)
    await trees.remove_tree(tmp)
    _fresh_log(log)
    try:
        tree = tmp / "rootfs"
        started = time.monotonic()
        if parent is not None:
            await _timed(build.events, "copy parent tree", tree, _copy(parent, tmp, log, build))
        else:
            await _timed(build.events, "mmdebstrap", tree, _bootstrap(build, recipe, tree, log))
        await _run_steps(build, recipe, _context(build, tree, log))
        _write_stage_info(tmp, recipe, build.hashes[index], time.monotonic() - started)
        await trees.remove_tree(final)
        tmp.rename(final)
    finally:
        await trees.remove_tree(tmp)
    await _prune_stages(build, recipe.name, keep=final)
    return final


def _context(build: _Build, tree: Path, log: Path) -> StepContext:
    images = build.config.images
    return StepContext(
        tree,
        log,
        build.events,
        npm_registry=images.npm_registry,
        pypi_index=images.pypi_index,
        downloads=build.cache / "downloads",
        args=dict(build.args),
    )


def _fresh_log(log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")


async def _copy(parent: Path, tmp: Path, log: Path, build: _Build) -> None:
    _mkdir(tmp)
    await trees.copy_tree(parent / "rootfs", tmp / "rootfs", log=log, events=build.events)


async def _bootstrap(build: _Build, recipe: Recipe, tree: Path, log: Path) -> None:
    tree.parent.mkdir(parents=True, exist_ok=True)
    await run_logged(
        mmdebstrap_argv(build.config, recipe, tree),
        log=log,
        timeout=3600,
        events=build.events,
        hint=f"see the full log in {log}",
    )


def mmdebstrap_argv(config: AtelierConfig, recipe: Recipe, tree: Path) -> list[proc.Arg]:
    """The mmdebstrap command that creates a root recipe's tree."""
    mirror = config.images.debian_mirror.rstrip("/")
    security = config.images.debian_security_mirror.rstrip("/")
    suite = recipe.suite
    argv: list[proc.Arg] = ["mmdebstrap", "--mode=root", f"--variant={recipe.variant}"]
    if recipe.packages:
        argv.append("--include=" + ",".join(recipe.packages))
    argv += [*DPKG_EXCLUDES, '--aptopt=Acquire::Languages "none"', suite, tree]
    argv += [
        f"deb {mirror} {suite} main",
        f"deb {mirror} {suite}-updates main",
        f"deb {security} {suite}-security main",
    ]
    return argv


async def _run_steps(build: _Build, recipe: Recipe, ctx: StepContext) -> None:
    if recipe.parent is not None and recipe.packages:
        await _timed(
            build.events, "apt-get install", ctx.root, AptInstall(recipe.packages).apply(ctx)
        )
    for step in recipe.steps:
        await _timed(build.events, f"{recipe.name}: {step.name}", ctx.root, step.action.apply(ctx))


async def _timed(events: BuildEvents, name: str, tree: Path, work: Awaitable[None]) -> None:
    events.phase(name)
    started = time.monotonic()
    await work
    usage = await asyncio.to_thread(trees.tree_usage, tree)
    events.done(name, time.monotonic() - started, f"tree {usage.apparent / MiB:.0f} MiB")


def _write_stage_info(tmp: Path, recipe: Recipe, digest: str, seconds: float) -> None:
    info = {"name": recipe.name, "recipe_hash": digest, "seconds": round(seconds, 1)}
    (tmp / "stage.json").write_text(json.dumps(info, indent=2) + "\n")


async def _prune_stages(build: _Build, name: str, keep: Path) -> None:
    root = keep.parent
    for entry in root.iterdir():
        prefix, _, digest = entry.name.rpartition("-")
        if prefix == name and len(digest) == 16 and entry != keep:
            await trees.remove_tree(entry)


def image_size_mib(usage: trees.Usage, headroom_mb: int) -> int:
    """ext4 size for a tree: content + 10 %, journal, headroom; a multiple of 64 MiB."""
    content = max(usage.apparent, usage.allocated) * 1.10 / MiB
    return int(math.ceil((content + 64 + headroom_mb) / 64) * 64)


def inode_count(usage: trees.Usage, size_mib: int) -> int:
    """One inode per 8 KiB (room for node_modules), never fewer than 1.3x the tree's files."""
    return max(size_mib * MiB // 8192, int(usage.files * 1.3))


async def _export(build: _Build, stage: Path, started: float) -> BuiltImage:
    recipe, digest = build.chain[-1], build.hashes[-1]
    rootfs = stage / "rootfs"
    usage = await asyncio.to_thread(trees.tree_usage, rootfs)
    size = image_size_mib(usage, recipe.headroom_mb)
    images = build.config.paths.images
    images.mkdir(parents=True, exist_ok=True)
    tmp = images / f".tmp-{recipe.name}-{os.getpid()}"
    await trees.remove_tree(tmp)
    try:
        tmp.mkdir()
        image = tmp / manifest.IMAGE_FILE
        build.events.phase("mkfs.ext4")
        phase = time.monotonic()
        await proc.run(mkfs_argv(rootfs, image, size, inode_count(usage, size)), timeout=1800)
        build.events.done("mkfs.ext4", time.monotonic() - phase, f"{size} MiB")
        header = await proc.run(["dumpe2fs", "-h", image], timeout=120)
        checksum = await asyncio.to_thread(_sha256, image)
        data = _manifest(recipe, digest, rootfs, image, usage, header.text, checksum, started)
        data = dataclasses.replace(data, notes=build_arg_notes(build.chain, build.args))
        manifest.write_manifest(tmp, data)
        final = images / recipe.name
        await _swap(tmp, final)
    finally:
        await trees.remove_tree(tmp)
    built = catalog.load(final)
    assert built is not None
    return built


def mkfs_argv(rootfs: Path, image: Path, size_mib: int, inodes: int) -> list[proc.Arg]:
    """`mkfs.ext4 -d`: the image is filled from the tree without mounting anything."""
    argv: list[proc.Arg] = ["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-N", str(inodes)]
    argv += ["-E", "lazy_itable_init=0,lazy_journal_init=0", "-d", rootfs, image, f"{size_mib}M"]
    return argv


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def _manifest(
    recipe: Recipe,
    digest: str,
    rootfs: Path,
    image: Path,
    usage: trees.Usage,
    dumpe2fs: str,
    checksum: str,
    started: float,
) -> manifest.ImageManifest:
    status = rootfs / "var" / "lib" / "dpkg" / "status"
    installed = manifest.parse_dpkg_status(status.read_text()) if status.is_file() else {}
    info = image.stat()
    return manifest.ImageManifest(
        name=recipe.name,
        version=recipe.version,
        description=recipe.description,
        recipe_hash=digest,
        parent=recipe.parent,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.monotonic() - started, 1),
        image_file=manifest.IMAGE_FILE,
        size_apparent=info.st_size,
        size_allocated=info.st_blocks * 512,
        rootfs_bytes=usage.apparent,
        file_count=usage.files,
        sha256=checksum,
        filesystem={
            "type": "ext4",
            "label": "rootfs",
            "features": manifest.parse_features(dumpe2fs),
        },
        kernel=dict(KERNEL_COMPAT),
        packages=manifest.notable(installed, recipe.notable_packages),
        package_count=len(installed),
        debian={"suite": recipe.suite, "architecture": "amd64"},
        agent_protocol=manifest.agent_protocol_version(),
        recommended_memory_mb=recipe.recommended_memory_mb,
    )


async def _swap(tmp: Path, final: Path) -> None:
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    _replace_dir(tmp, final, old)
    await trees.remove_tree(old)


def _replace_dir(new: Path, final: Path, old: Path) -> None:
    if final.exists():
        final.rename(old)
    new.rename(final)


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True)
