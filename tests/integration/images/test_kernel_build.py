"""The custom kernel: every option the fragment requires is =y in the built `.config`.

Reuses the build cached under the default cache dir when its inputs match (that is what
`atelier images kernel build` leaves behind); otherwise builds into tmp (about 7-12 min).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.config import AtelierConfig, PathsConfig, load_config
from atelier.runtime.host import proc
from atelier.runtime.images import kbuild, kconfig, vmlinux
from atelier.runtime.images.base import NullEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.kernelstore import KernelArtifact

pytestmark = [pytest.mark.slow]


async def _custom_kernel(tmp_path: Path) -> tuple[KernelArtifact, kbuild.BuildInputs]:
    if proc.which("make") is None or proc.which("gcc") is None:
        pytest.skip("needs make and gcc (apt-get install build-essential)")
    try:
        inputs = await kbuild.gather_inputs()
    except ImageBuildError as exc:
        pytest.skip(f"needs {kbuild.SOURCE_PACKAGE}: {exc.message}")
    cached = kbuild.cached(load_config(), inputs)
    if cached is not None:
        return cached, inputs
    paths = PathsConfig(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    scratch = AtelierConfig(paths=paths)
    await kbuild.build_custom(scratch, NullEvents())
    staged = kbuild.cached(scratch, inputs)
    assert staged is not None
    return staged, inputs


@pytest.mark.timeout(3600)
async def test_required_options_are_built_in(tmp_path: Path) -> None:
    kernel, inputs = await _custom_kernel(tmp_path)
    config_file = kernel.directory / "config"
    fragment = kconfig.parse_fragment(inputs.fragment)
    check = kbuild.verify_config(config_file, fragment)
    assert check.dropped == ()
    assert check.modules == ()
    resolved = kconfig.parse_config(config_file.read_text())
    assert "CONFIG_MODULES" not in resolved
    for option in ("CONFIG_PVH", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES", "CONFIG_VIRTIO_VSOCKETS",
                   "CONFIG_VMGENID", "CONFIG_NFT_COMPAT", "CONFIG_IP_NF_IPTABLES",
                   "CONFIG_CGROUP_BPF", "CONFIG_OVERLAY_FS", "CONFIG_BLK_DEV_INITRD"):  # fmt: skip
        assert resolved.get(option) == "y", option


@pytest.mark.timeout(3600)
async def test_vmlinux_has_the_pvh_entry(tmp_path: Path) -> None:
    kernel, _ = await _custom_kernel(tmp_path)
    assert kernel.release.endswith("-atelier")
    entry = vmlinux.file_pvh_entry(kernel.vmlinux)
    assert entry is not None and entry == kernel.pvh_entry
