"""The boot bundle: layout, modes, module list, caching (stand-in guest files and busybox)."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

import pytest

from atelier.config import AtelierConfig
from atelier.runtime.images import bootbundle, cpio
from atelier.runtime.images.errors import BootBundleError
from tests.unit.runtime.images import elves
from tests.unit.runtime.images.factories import installed_kernel

STAGE1 = b"#!/bin/sh\necho stand-in stage 1\n"


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    """A stand-in `atelier/guest` package beside an `atelier/__init__.py`."""
    package = tmp_path / "src" / "atelier"
    (package / "guest").mkdir(parents=True)
    (package / "__init__.py").write_text('"""atelier."""\n')
    (package / "guest" / "__init__.py").write_text('"""guest."""\n')
    (package / "guest" / "init.py").write_text("def main() -> None: ...\n")
    (package / "guest" / "stage1.sh").write_bytes(STAGE1)
    (package / "guest" / "notes.txt").write_text("not shipped")
    return package / "guest"


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    """A stand-in static ELF."""
    path = tmp_path / "busybox"
    path.write_bytes(elves.elf([(elves.PT_LOAD, b"busybox")]))
    return path


def _entries(path: Path) -> dict[str, cpio.Entry]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return {entry.name: entry for entry in cpio.read_entries(data)}


def test_layout_for_the_custom_kernel(config: AtelierConfig, guest: Path, busybox: Path) -> None:
    kernel = installed_kernel(config, "custom")
    path = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    assert path.parent == config.paths.cache_dir / "bundles"
    entries = _entries(path)
    init = entries["init"]
    assert init.data == STAGE1 and stat.S_IMODE(init.mode) == 0o755
    assert stat.S_IMODE(entries["bin/busybox"].mode) == 0o755
    assert entries["bin/sh"].data == b"busybox" and stat.S_ISLNK(entries["bin/sh"].mode)
    for applet in ("switch_root", "insmod", "modprobe", "mount", "poweroff", "mkdir", "cp"):
        assert f"bin/{applet}" in entries
    console, null = entries["dev/console"], entries["dev/null"]
    assert stat.S_ISCHR(console.mode) and (console.rdevmajor, console.rdevminor) == (5, 1)
    assert stat.S_ISCHR(null.mode) and (null.rdevmajor, null.rdevminor) == (1, 3)
    lib = sorted(
        name for name in entries if name.startswith("atelier/lib/") and name.endswith(".py")
    )
    assert lib == [
        "atelier/lib/atelier/__init__.py",
        "atelier/lib/atelier/guest/__init__.py",
        "atelier/lib/atelier/guest/init.py",
    ]
    launcher = entries["atelier/init"].data.decode()
    assert 'sys.path.insert(0, "/run/atelier/lib")' in launcher
    assert "from atelier.guest.init import main" in launcher
    assert "atelier/modules.list" not in entries
    assert not any(name.startswith("atelier/modroot") for name in entries)


def test_cloud_kernel_ships_modules_in_load_order(
    config: AtelierConfig, guest: Path, busybox: Path
) -> None:
    kernel = installed_kernel(config, "cloud")
    path = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    entries = _entries(path)
    order = entries["atelier/modules.list"].data.decode().split()
    assert order == [
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
    ]
    prefix = f"atelier/modroot/lib/modules/{kernel.release}/"
    assert prefix + "kernel/fs/overlayfs/overlay.ko" in entries
    assert prefix + "modules.dep" in entries
    assert all((prefix + line) in entries for line in order)


def test_cached_until_an_input_changes(config: AtelierConfig, guest: Path, busybox: Path) -> None:
    kernel = installed_kernel(config, "custom")
    first = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    stamp = first.stat().st_mtime_ns
    again = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    assert again == first and again.stat().st_mtime_ns == stamp
    (guest / "init.py").write_text("def main() -> None: print('v2')\n")
    changed = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    assert changed != first


def test_gzip_variant(config: AtelierConfig, guest: Path, busybox: Path) -> None:
    kernel = installed_kernel(config, "custom")
    plain = bootbundle.build_boot_bundle(
        kernel, config, guest_dir=guest, busybox=busybox, compress=False
    )
    packed = bootbundle.build_boot_bundle(
        kernel, config, guest_dir=guest, busybox=busybox, compress=True
    )
    assert packed.name.endswith(".cpio.gz") and plain.name.endswith(".cpio")
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


def test_missing_stage1(config: AtelierConfig, guest: Path, busybox: Path) -> None:
    (guest / "stage1.sh").unlink()
    kernel = installed_kernel(config, "custom")
    with pytest.raises(BootBundleError, match=r"stage1\.sh"):
        bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)


def test_cloud_kernel_without_modules_dep(
    config: AtelierConfig, guest: Path, busybox: Path
) -> None:
    kernel = installed_kernel(config, "cloud")
    assert kernel.modules_dir is not None
    (kernel.modules_dir / "modules.dep").unlink()
    with pytest.raises(BootBundleError, match=r"modules\.dep") as info:
        bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=busybox)
    assert "--flavour cloud --force" in (info.value.hint or "")


def test_static_elf_check() -> None:
    assert bootbundle.is_static_elf(elves.elf([(elves.PT_LOAD, b"x")]))
    assert not bootbundle.is_static_elf(elves.elf([(elves.PT_INTERP, b"/lib/ld.so\0")]))
    assert not bootbundle.is_static_elf(b"#!/bin/sh\n")
