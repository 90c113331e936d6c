"""Building Atelier's own guest kernel from Debian's `linux-source-6.1`.

Steps: unpack the source once per package version, configure an out-of-tree object dir
(`defconfig` + `kvm_guest.config` + Atelier's fragment, then `olddefconfig`), check that every
required option survived, `make vmlinux` under `nice`, and stage the result in
`<cache_dir>/kernels/custom-<hash16>/`. The hash covers the source package version, the
fragment and the toolchain, so an unchanged kernel is never rebuilt. The object dir is kept
per source version, so a fragment change rebuilds only what it touches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.errors import CommandError
from atelier.runtime.host import proc
from atelier.runtime.images import kconfig, kernelstore, vmlinux
from atelier.runtime.images.base import BuildEvents
from atelier.runtime.images.errors import ImageBuildError, KernelConfigError
from atelier.runtime.images.kernelstore import KernelArtifact
from atelier.runtime.images.lock import build_lock
from atelier.runtime.images.logged import run_logged

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

SOURCE_PACKAGE = "linux-source-6.1"
SOURCE_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
BUILD_DEPS = "linux-source-6.1 build-essential flex bison bc libelf-dev libssl-dev"
LAYOUT = "atelier-kernel-1"
MAKE_TIMEOUT = 3 * 3600.0


@dataclass(frozen=True)
class BuildInputs:
    """Everything that determines the built kernel."""

    source_version: str
    fragment: str
    toolchain: str

    @property
    def digest(self) -> str:
        """sha256 over the inputs: the kernel's cache key."""
        parts = (LAYOUT, SOURCE_PACKAGE, self.source_version, self.toolchain, self.fragment)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Tree:
    """Where a build lives in the cache."""

    root: Path  # <cache_dir>/kernels

    def source(self, version: str) -> Path:
        """The unpacked source tree."""
        return self.root / "src" / version / "linux-source-6.1"

    def objects(self, version: str) -> Path:
        """The out-of-tree object dir (kept between builds of one source version)."""
        return self.root / "build" / version

    def output(self, digest: str) -> Path:
        """The staged result of one build."""
        return self.root / f"custom-{digest[:16]}"

    def log(self, digest: str) -> Path:
        """The build log."""
        return self.root / "logs" / f"custom-{digest[:16]}.log"


def merge_fragment(config_text: str, fragment: kconfig.Fragment) -> str:
    """`.config` text with the fragment's settings replacing or added to the base."""
    wanted: dict[str, str | None] = {name: "y" for name in fragment.required}
    wanted.update({name: None for name in fragment.disabled})
    wanted.update(dict(fragment.values))
    lines = []
    for line in config_text.splitlines():
        name = _option_of(line)
        if name not in wanted:
            lines.append(line)
    for name, value in wanted.items():
        lines.append(f"# {name} is not set" if value is None else f"{name}={value}")
    return "\n".join(lines) + "\n"


def _option_of(line: str) -> str | None:
    line = line.strip()
    if line.startswith("# CONFIG_") and line.endswith(" is not set"):
        return line[2:].split(" ", 1)[0]
    if line.startswith("CONFIG_") and "=" in line:
        return line.split("=", 1)[0]
    return None


async def gather_inputs(fragment_text: str | None = None) -> BuildInputs:
    """The source version, fragment and toolchain of a build on this host."""
    version = await _source_version()
    gcc = await proc.run(["gcc", "--version"], timeout=30)
    ld = await proc.run(["ld", "--version"], timeout=30)
    toolchain = gcc.text.splitlines()[0] + " / " + ld.text.splitlines()[0]
    return BuildInputs(version, fragment_text or kconfig.fragment_text(), toolchain)


async def _source_version() -> str:
    done = await proc.run(
        ["dpkg-query", "-W", "-f=${Version}", SOURCE_PACKAGE], timeout=30, check=False
    )
    if done.returncode != 0 or not _tarball_present():
        raise ImageBuildError(
            f"{SOURCE_PACKAGE} is not installed ({SOURCE_TARBALL} is missing)",
            hint=f"apt-get install {BUILD_DEPS}, or use --flavour cloud",
        )
    return done.text.strip()


def _tarball_present() -> bool:
    return SOURCE_TARBALL.is_file()


def cached(config: AtelierConfig, inputs: BuildInputs) -> KernelArtifact | None:
    """The staged kernel for these inputs, if it was built before."""
    return kernelstore.load(Tree(config.paths.cache_dir / "kernels").output(inputs.digest))


async def build_custom(
    config: AtelierConfig, events: BuildEvents, *, force: bool = False, jobs: int | None = None
) -> KernelArtifact:
    """Build (or reuse) the custom kernel and install it as the current `custom` kernel.

    Raises KernelConfigError when required options dropped, ImageBuildError or CommandError
    when a step fails (the message names the log), Conflict when a build is running.
    """
    inputs = await gather_inputs()
    tree = Tree(config.paths.cache_dir / "kernels")
    staged = None if force else kernelstore.load(tree.output(inputs.digest))
    if staged is not None:
        events.note(f"custom kernel {staged.release} is cached ({inputs.digest[:16]})")
        return kernelstore.install(config, staged)
    with build_lock(tree.root / ".lock-custom", "custom kernel"):
        started = time.monotonic()
        log = tree.log(inputs.digest)
        log.unlink(missing_ok=True)
        source = await _unpack(tree, inputs.source_version, events)
        objects = tree.objects(inputs.source_version)
        await _configure(source, objects, inputs, log, events)
        await _make(source, objects, log, jobs or os.cpu_count() or 1, events)
        staged = await _stage(tree, objects, inputs, started, events)
    return kernelstore.install(config, staged)


async def _unpack(tree: Tree, version: str, events: BuildEvents) -> Path:
    source = tree.source(version)
    if (source / "Makefile").is_file():
        return source
    events.phase(f"unpack {SOURCE_PACKAGE}")
    started = time.monotonic()
    parent = source.parent
    tmp = parent.with_name(parent.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        await proc.run(["nice", "-n", "19", "tar", "-xf", SOURCE_TARBALL, "-C", tmp], timeout=900)
        shutil.rmtree(parent, ignore_errors=True)
        tmp.rename(parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    events.done(f"unpack {SOURCE_PACKAGE}", time.monotonic() - started)
    return source


async def _configure(
    source: Path, objects: Path, inputs: BuildInputs, log: Path, events: BuildEvents
) -> None:
    events.phase("configure")
    started = time.monotonic()
    _mkdir(objects)
    make: list[proc.Arg] = ["make", "-C", source, f"O={objects}"]
    await run_logged([*make, "defconfig", "kvm_guest.config"], log=log, timeout=600, events=events)
    fragment = kconfig.parse_fragment(inputs.fragment)
    _apply_fragment(objects / ".config", fragment)
    await run_logged([*make, "olddefconfig"], log=log, timeout=600, events=events)
    check = verify_config(objects / ".config", fragment)
    if not check.ok:
        problems = [*check.dropped, *(f"{name} (=m)" for name in check.modules)]
        raise KernelConfigError(
            "required kernel options were dropped by olddefconfig: " + ", ".join(problems),
            hint="a dependency of each is missing: add it to the fragment"
            f" {kconfig.FRAGMENT} (check with `make menuconfig` in {objects})",
        )
    if check.still_enabled:
        events.note("fragment options still enabled: " + ", ".join(check.still_enabled))
    events.done("configure", time.monotonic() - started, f"{fragment.option_count} options")


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _apply_fragment(dot_config: Path, fragment: kconfig.Fragment) -> None:
    dot_config.write_text(merge_fragment(dot_config.read_text(), fragment))


def verify_config(dot_config: Path, fragment: kconfig.Fragment) -> kconfig.ConfigCheck:
    """Check a resolved `.config` file against the fragment."""
    return kconfig.check_config(fragment, kconfig.parse_config(dot_config.read_text()))


async def _make(source: Path, objects: Path, log: Path, jobs: int, events: BuildEvents) -> None:
    events.phase("make vmlinux")
    started = time.monotonic()
    env = {"KBUILD_BUILD_USER": "atelier", "KBUILD_BUILD_HOST": "atelier"}
    argv: list[proc.Arg] = ["nice", "-n", "19", "make", "-C", source, f"O={objects}"]
    argv += [f"-j{jobs}", "vmlinux"]
    try:
        await run_logged(argv, log=log, timeout=MAKE_TIMEOUT, events=events, env=env)
    except CommandError as exc:
        raise ImageBuildError(
            f"the kernel build failed: {exc.message}",
            hint=f"read the full log in {log}; install build deps with: apt-get install"
            f" {BUILD_DEPS}",
        ) from exc
    events.done("make vmlinux", time.monotonic() - started, f"-j{jobs}")


async def _stage(
    tree: Tree,
    objects: Path,
    inputs: BuildInputs,
    started: float,
    events: BuildEvents,
) -> KernelArtifact:
    # Written by the build itself, so it includes CONFIG_LOCALVERSION.
    release = (objects / "include" / "config" / "kernel.release").read_text().strip()
    out = tree.output(inputs.digest)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copy2(objects / "vmlinux", tmp / "vmlinux")
        shutil.copy2(objects / ".config", tmp / "config")
        entry = vmlinux.file_pvh_entry(tmp / "vmlinux")
        if entry is None:
            raise KernelConfigError(
                "the built vmlinux has no PVH entry note", hint="keep CONFIG_PVH=y"
            )
        artifact = KernelArtifact(
            flavour="custom",
            release=release,
            package=SOURCE_PACKAGE,
            package_version=inputs.source_version,
            config_hash=inputs.digest,
            vmlinux=out / "vmlinux",
            size=(tmp / "vmlinux").stat().st_size,
            pvh_entry=entry,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.monotonic() - started, 1),
        )
        data = {**artifact.to_json(), "toolchain": inputs.toolchain}
        (tmp / kernelstore.MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    events.note(f"custom kernel {release}: {artifact.size / 2**20:.1f} MiB vmlinux")
    return artifact
