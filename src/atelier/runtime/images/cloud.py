"""The fallback guest kernel: Debian's `linux-image-cloud-amd64`, prepared for PVH boot.

The concrete package (`linux-image-6.1.*-cloud-amd64`) is fetched with `apt-get download`
from the host's apt sources, unpacked with `dpkg-deb -x`, the ELF vmlinux is extracted from
its bzImage, and the modules a sandbox needs (virtio, vsock, netfilter, overlay, ...) are
copied, decompressed, into a `modroot` with its own `depmod` indexes. The result is staged in
`<cache_dir>/kernels/cloud-<hash16>/`, keyed by package name and version.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import lzma
import re
import shutil
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.runtime.host import proc
from atelier.runtime.images import kernelstore, modules, vmlinux
from atelier.runtime.images.base import BuildEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.kernelstore import KernelArtifact
from atelier.runtime.images.lock import build_lock

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

META_PACKAGE = "linux-image-cloud-amd64"
LAYOUT = "atelier-cloud-1"
_CONCRETE = re.compile(r"\b(linux-image-6\.1\.[0-9]+-[0-9]+-cloud-amd64)\b")


def parse_field(control: str, field: str) -> str | None:
    """The value of a field in one apt/dpkg control paragraph."""
    for line in control.splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    return None


async def resolve_package() -> tuple[str, str]:
    """(concrete package, version) that `linux-image-cloud-amd64` points to in apt."""
    meta = await _show(META_PACKAGE)
    depends = parse_field(meta, "Depends") or ""
    match = _CONCRETE.search(depends)
    if match is None:
        raise ImageBuildError(
            f"{META_PACKAGE} does not depend on a linux-image-6.1.*-cloud-amd64 package"
            f" (Depends: {depends!r})",
            hint="this fallback needs Debian 12 (bookworm) apt sources",
        )
    package = match[1]
    version = parse_field(await _show(package), "Version")
    if not version:
        raise ImageBuildError(f"apt has no version of {package}", hint="run apt-get update")
    return package, version


async def _show(package: str) -> str:
    done = await proc.run(
        ["apt-cache", "show", "--no-all-versions", package], timeout=120, check=False
    )
    if done.returncode != 0 or not done.text.strip():
        raise ImageBuildError(
            f"apt does not know the package {package}",
            hint="run apt-get update (the host needs Debian bookworm and bookworm-security"
            " sources)",
        )
    return done.text.split("\n\n", 1)[0]


def selection_digest(package: str, version: str) -> str:
    """The cache key of a prepared cloud kernel."""
    spec = [
        LAYOUT,
        package,
        version,
        *modules.BOOT_MODULES,
        *modules.EXTRA_MODULES,
        *modules.EXTRA_PREFIXES,
    ]
    return hashlib.sha256("\0".join(spec).encode()).hexdigest()


async def prepare_cloud(
    config: AtelierConfig, events: BuildEvents, *, force: bool = False
) -> KernelArtifact:
    """Fetch and prepare (or reuse) the cloud kernel and install it as the current `cloud`.

    Raises ImageBuildError when apt does not offer the package, CommandError when a tool
    fails, KernelFormatError when the bzImage cannot be turned into a PVH vmlinux.
    """
    package, version = await resolve_package()
    digest = selection_digest(package, version)
    root = config.paths.cache_dir / "kernels"
    out = root / f"cloud-{digest[:16]}"
    staged = None if force else kernelstore.load(out)
    if staged is not None:
        events.note(f"cloud kernel {staged.release} is cached ({digest[:16]})")
        return kernelstore.install(config, staged)
    with build_lock(root / ".lock-cloud", "cloud kernel"):
        work = out.with_name(out.name + ".part")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            staged = await _prepare(work, out, package, version, digest, events)
            shutil.rmtree(out, ignore_errors=True)
            work.rename(out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return kernelstore.install(config, staged)


async def _prepare(
    work: Path, out: Path, package: str, version: str, digest: str, events: BuildEvents
) -> KernelArtifact:
    started = time.monotonic()
    events.phase(f"apt-get download {package}")
    await proc.run(["apt-get", "download", f"{package}={version}"], cwd=work, timeout=900)
    deb = _downloaded_deb(work)
    tree = work / "tree"
    await proc.run(["dpkg-deb", "-x", deb, tree], timeout=300)
    events.done(f"apt-get download {package}", time.monotonic() - started, version)
    release = _release(tree)
    phase = time.monotonic()
    events.phase("extract vmlinux")
    entry = await vmlinux.extract_vmlinux(tree / "boot" / f"vmlinuz-{release}", work / "vmlinux")
    shutil.copy2(tree / "boot" / f"config-{release}", work / "config")
    events.done("extract vmlinux", time.monotonic() - phase, "PVH entry " + hex(entry))
    phase = time.monotonic()
    events.phase("select modules")
    count = await _select_modules(tree, work / "modroot", release)
    events.done("select modules", time.monotonic() - phase, f"{count} modules")
    shutil.rmtree(tree)
    artifact = KernelArtifact(
        flavour="cloud",
        release=release,
        package=package,
        package_version=version,
        config_hash=digest,
        vmlinux=out / "vmlinux",
        size=(work / "vmlinux").stat().st_size,
        pvh_entry=entry,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.monotonic() - started, 1),
        modules_root=out / "modroot",
    )
    (work / kernelstore.MANIFEST).write_text(json.dumps(artifact.to_json(), indent=2) + "\n")
    return artifact


def _release(tree: Path) -> str:
    found = sorted(p.name for p in (tree / "lib" / "modules").iterdir() if p.is_dir())
    if len(found) != 1:
        raise ImageBuildError(f"expected one kernel release in the package, found {found}")
    return found[0]


async def _select_modules(tree: Path, modroot: Path, release: str) -> int:
    await proc.run(["depmod", "-b", tree, release], timeout=300)
    source = tree / "lib" / "modules" / release
    dep_map = modules.parse_modules_dep((source / "modules.dep").read_text())
    builtin = modules.parse_builtin((source / "modules.builtin").read_text())
    try:
        modules.load_order(dep_map, modules.BOOT_MODULES, builtin)
    except KeyError as exc:
        raise ImageBuildError(
            f"the cloud kernel {release} has no module or built-in driver {exc.args[0]}"
        ) from exc
    chosen = modules.select(
        dep_map, modules.BOOT_MODULES + modules.EXTRA_MODULES, modules.EXTRA_PREFIXES
    )
    target = modroot / "lib" / "modules" / release
    for path in chosen:
        dest = target / modules.uncompressed_path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(await _module_bytes(source / path))
    for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    await proc.run(["depmod", "-b", modroot, release], timeout=300)
    return len(chosen)


async def _module_bytes(path: Path) -> bytes:
    if path.name.endswith(".zst"):
        data = await asyncio.to_thread(path.read_bytes)
        return (await proc.run(["zstd", "-dc"], input=data, timeout=120)).stdout
    return _read_module(path)


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return zlib.decompress(data, wbits=31)
    return data


def _downloaded_deb(work: Path) -> Path:
    debs = sorted(work.glob("*.deb"))
    if len(debs) != 1:
        raise ImageBuildError(f"apt-get download left {len(debs)} .deb files in {work}")
    return debs[0]
