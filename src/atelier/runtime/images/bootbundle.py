"""The boot bundle: the small initramfs that delivers Atelier's init and agent at every boot.

Images never contain the agent. Each boot gets it from this bundle, so upgrading Atelier
upgrades every sandbox, stopped ones included, at its next start. Layout (newc cpio):

    init                          stage 1 (src/atelier/guest/stage1.sh), mode 0755
    bin/busybox + applet links    from Debian's busybox-static
    dev/console, dev/null         device nodes
    atelier/lib/atelier/          atelier/__init__.py and guest/*.py, nothing else
    atelier/init                  launcher: puts /run/atelier/lib first on sys.path, runs init
    atelier/modules.list          cloud kernel: modules to insmod, dependencies first
    atelier/modroot/lib/modules/<release>/   cloud kernel: modules + depmod indexes

Bundles are cached in `<cache_dir>/bundles/` by a hash of every input, so a cached build
costs a few file reads.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from atelier.runtime.images import modules
from atelier.runtime.images.cpio import CpioWriter
from atelier.runtime.images.errors import BootBundleError
from atelier.runtime.images.kernelstore import KernelArtifact

if TYPE_CHECKING:
    from atelier.config import AtelierConfig

LAYOUT_VERSION = "1"
# Measured under TCG (docs/boot.md): the kernel unpacks an uncompressed bundle faster than
# it inflates a gzip one, and QEMU reads either from the page cache.
COMPRESS = False
KEEP_BUNDLES = 16
BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
APPLETS = (
    "sh", "ash", "mount", "umount", "switch_root", "pivot_root", "insmod", "rmmod", "lsmod",
    "modprobe", "mkdir", "rmdir", "cp", "mv", "rm", "ln", "ls", "cat", "echo", "printf",
    "sleep", "test", "[", "true", "false", "poweroff", "reboot", "halt", "mknod", "chmod",
    "chown", "chroot", "grep", "sed", "awk", "head", "tail", "cut", "tr", "wc", "find",
    "xargs", "dmesg", "uname", "hostname", "ip", "sync", "stat", "readlink", "realpath",
    "basename", "dirname", "env", "kill", "ps", "seq", "date", "tee", "mdev", "losetup",
    "touch", "sysctl", "setsid", "cttyhack", "blockdev", "nproc", "timeout", "usleep",
)  # fmt: skip
LAUNCHER = '''#!/usr/bin/python3 -I
"""Atelier guest init launcher, copied to /run/atelier/init by stage 1."""
import sys
sys.path.insert(0, "/run/atelier/lib")
from atelier.guest.init import main
main()
'''


@dataclass(frozen=True)
class BundleInputs:
    """Everything that goes into one bundle."""

    stage1: bytes
    guest_files: tuple[tuple[str, bytes], ...]  # paths under atelier/lib/, contents
    busybox: bytes
    kernel: KernelArtifact
    module_files: tuple[tuple[str, Path], ...]  # paths under the release dir, sources
    module_order: tuple[str, ...]  # modules.list lines
    compress: bool

    @property
    def digest(self) -> str:
        """sha256 over every input: the bundle's cache key."""
        h = hashlib.sha256()
        for part in (LAYOUT_VERSION, LAUNCHER, str(self.compress), self.kernel.flavour):
            h.update(part.encode() + b"\0")
        h.update(self.kernel.release.encode() + b"\0" + self.kernel.config_hash.encode())
        for blob in (self.stage1, self.busybox):
            h.update(hashlib.sha256(blob).digest())
        for name, data in self.guest_files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        for name, source in self.module_files:
            h.update(f"{name}\0{source.stat().st_size}\0".encode())
        h.update("\n".join(self.module_order).encode())
        return h.hexdigest()


def guest_package_dir() -> Path:
    """The installed `atelier/guest` directory (found without importing it)."""
    spec = importlib.util.find_spec("atelier.guest")
    if spec is None or not spec.submodule_search_locations:
        raise BootBundleError(
            "the atelier.guest package is not installed", hint="reinstall atelier"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def find_busybox() -> Path:
    """The host's busybox; BootBundleError unless it is the static build."""
    for path in BUSYBOX_PATHS:
        if path.is_file():
            if not is_static_elf(path.read_bytes()):
                break
            return path
    raise BootBundleError(
        "no statically linked busybox on the host (needed inside the boot bundle)",
        hint="apt-get install busybox-static",
    )


def is_static_elf(data: bytes) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP)."""
    if not data.startswith(b"\x7fELF") or data[4] != 2:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = (struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum))
    return 3 not in types  # PT_INTERP


def gather_inputs(
    kernel: KernelArtifact,
    *,
    guest_dir: Path | None = None,
    busybox: Path | None = None,
    compress: bool = COMPRESS,
) -> BundleInputs:
    """Read every input of a bundle; BootBundleError names what is missing."""
    guest = guest_dir or guest_package_dir()
    stage1 = guest / "stage1.sh"
    if not stage1.is_file():
        raise BootBundleError(
            f"the guest stage 1 script {stage1} is missing", hint="reinstall atelier"
        )
    package_init = guest.parent / "__init__.py"
    files = [("atelier/__init__.py", package_init.read_bytes() if package_init.is_file() else b"")]
    files += [(f"atelier/guest/{p.name}", p.read_bytes()) for p in sorted(guest.glob("*.py"))]
    module_files, order = _kernel_modules(kernel)
    return BundleInputs(
        stage1=stage1.read_bytes(),
        guest_files=tuple(files),
        busybox=(busybox or find_busybox()).read_bytes(),
        kernel=kernel,
        module_files=module_files,
        module_order=order,
        compress=compress,
    )


def _kernel_modules(kernel: KernelArtifact) -> tuple[tuple[tuple[str, Path], ...], tuple[str, ...]]:
    release_dir = kernel.modules_dir
    if release_dir is None:
        return (), ()
    dep_file = release_dir / "modules.dep"
    if not dep_file.is_file():
        raise BootBundleError(
            f"{dep_file} is missing: the {kernel.flavour} kernel's modules are incomplete",
            hint=f"run `atelier images kernel build --flavour {kernel.flavour} --force`",
        )
    dep_map = modules.parse_modules_dep(dep_file.read_text())
    builtin_file = release_dir / "modules.builtin"
    builtin = modules.parse_builtin(builtin_file.read_text() if builtin_file.exists() else "")
    try:
        order = modules.load_order(dep_map, modules.BOOT_MODULES, builtin)
    except KeyError as exc:
        raise BootBundleError(f"kernel {kernel.release} lacks the module {exc.args[0]}") from exc
    files = sorted(
        (str(path.relative_to(release_dir)), path)
        for path in release_dir.rglob("*")
        if path.is_file()
    )
    return tuple(files), tuple(order)


def write_bundle(inputs: BundleInputs, out: BinaryIO) -> None:
    """Write the bundle's cpio archive (uncompressed) to `out`."""
    cpio = CpioWriter(out)
    for name in ("bin", "dev", "proc", "sys", "run", "tmp", "mnt", "atelier"):
        cpio.directory(name)
    cpio.file("init", inputs.stage1, 0o755)
    cpio.file("bin/busybox", inputs.busybox, 0o755)
    for applet in APPLETS:
        cpio.symlink(f"bin/{applet}", "busybox")
    cpio.symlink("sbin", "bin")
    cpio.char_device("dev/console", 5, 1, 0o600)
    cpio.char_device("dev/null", 1, 3, 0o666)
    cpio.file("atelier/init", LAUNCHER.encode(), 0o755)
    _write_tree(cpio, "atelier/lib", list(inputs.guest_files))
    if inputs.module_files:
        cpio.file("atelier/modules.list", "".join(f"{p}\n" for p in inputs.module_order).encode())
        prefix = f"atelier/modroot/lib/modules/{inputs.kernel.release}"
        _write_tree(cpio, prefix, [(n, s.read_bytes()) for n, s in inputs.module_files])
    cpio.close()


def _write_tree(cpio: CpioWriter, prefix: str, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        path = f"{prefix}/{name}"
        cpio.parents(path)
        cpio.file(path, data, 0o644)


def build_boot_bundle(
    kernel: KernelArtifact,
    config: AtelierConfig,
    *,
    guest_dir: Path | None = None,
    busybox: Path | None = None,
    compress: bool = COMPRESS,
) -> Path:
    """The boot bundle for `kernel`: built, or taken from the cache when its inputs match.

    Synchronous file work only (no host commands); call it from a thread in async code.
    Raises BootBundleError when stage 1, busybox-static or the kernel's modules are missing.
    """
    inputs = gather_inputs(kernel, guest_dir=guest_dir, busybox=busybox, compress=compress)
    root = config.paths.cache_dir / "bundles"
    suffix = ".cpio.gz" if compress else ".cpio"
    path = root / f"{kernel.flavour}-{kernel.release}-{inputs.digest[:16]}{suffix}"
    if path.is_file():
        return path
    root.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_bundle(inputs, buffer)
    data = buffer.getvalue()
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)
    _prune(root)
    return path


def _prune(root: Path) -> None:
    bundles = sorted(
        (p for p in root.glob("*.cpio*") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in bundles[KEEP_BUNDLES:]:
        old.unlink(missing_ok=True)
