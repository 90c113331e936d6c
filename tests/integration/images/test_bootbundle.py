"""The boot bundle with the host's real busybox-static, read back by GNU cpio."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig
from atelier.runtime.host import proc
from atelier.runtime.images import bootbundle
from tests.unit.runtime.images.factories import installed_kernel


@pytest.fixture
def config(tmp_path: Path) -> AtelierConfig:
    return AtelierConfig(paths=PathsConfig(data_dir=tmp_path / "d", cache_dir=tmp_path / "c"))


def _busybox() -> Path:
    try:
        return bootbundle.find_busybox()
    except Exception as exc:  # BootBundleError: busybox-static missing
        pytest.skip(f"needs busybox-static: {exc}")


async def test_every_applet_link_exists_in_busybox() -> None:
    listing = await proc.run([_busybox(), "--list"], timeout=30)
    available = set(listing.text.split())
    assert set(bootbundle.APPLETS) <= available


@pytest.mark.skipif(proc.which("cpio") is None, reason="needs GNU cpio (apt-get install cpio)")
async def test_bundle_lists_with_gnu_cpio(config: AtelierConfig, tmp_path: Path) -> None:
    guest = tmp_path / "pkg" / "atelier" / "guest"
    guest.mkdir(parents=True)
    (guest / "stage1.sh").write_text("#!/bin/sh\nexec /bin/sh\n")
    (guest / "__init__.py").write_text("")
    kernel = installed_kernel(config, "cloud")
    bundle = bootbundle.build_boot_bundle(kernel, config, guest_dir=guest, busybox=_busybox())
    listing = await proc.run(["cpio", "-t", "-v", "-F", bundle], timeout=30)
    lines = listing.text.splitlines()
    names = {line.split()[-1] if " -> " not in line else line.split()[-3] for line in lines}
    assert {"init", "bin/busybox", "bin/switch_root", "dev/console", "dev/null",
            "atelier/init", "atelier/modules.list"} <= names  # fmt: skip
    (init,) = [line for line in lines if line.endswith(" init")]
    assert init.startswith("-rwxr-xr-x")


def test_real_guest_package_when_present(config: AtelierConfig) -> None:
    guest = bootbundle.guest_package_dir()
    if not (guest / "stage1.sh").exists():
        pytest.skip("src/atelier/guest/stage1.sh is not written yet")
    kernel = installed_kernel(config, "custom")
    bundle = bootbundle.build_boot_bundle(kernel, config, busybox=_busybox())
    assert bundle.stat().st_size > 1_000_000
