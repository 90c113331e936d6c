"""The cloud fallback kernel from its real Debian package: vmlinux extraction and modules.

Uses a `linux-image-*-cloud-amd64` .deb that is already on this host (left in the cache by
`atelier images kernel build --flavour cloud`, or in apt's archive); tests never download.
"""

from __future__ import annotations

import glob
import struct
from pathlib import Path

import pytest

from atelier.config import load_config
from atelier.runtime.host import proc
from atelier.runtime.images import cloud, modules, vmlinux

pytestmark = [pytest.mark.slow]


def _cloud_deb() -> Path:
    cache = load_config().paths.cache_dir / "kernels"
    patterns = [
        str(cache / "cloud-*" / "linux-image-*-cloud-amd64_*.deb"),
        "/var/cache/apt/archives/linux-image-6.1.*-cloud-amd64_*.deb",
    ]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1])
    pytest.skip("needs a linux-image-*-cloud-amd64 .deb on this host: run"
                " `atelier images kernel build --flavour cloud` once")  # fmt: skip


@pytest.fixture(scope="module")
async def unpacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The package unpacked once per module: (tree, kernel release)."""
    tree = tmp_path_factory.mktemp("cloud") / "tree"
    await proc.run(["dpkg-deb", "-x", _cloud_deb(), tree], timeout=300)
    (release,) = [p.name for p in (tree / "lib" / "modules").iterdir()]
    return tree, release


async def test_vmlinux_extracted_from_the_bzimage(
    unpacked: tuple[Path, str], tmp_path: Path
) -> None:
    tree, release = unpacked
    bzimage = tree / "boot" / f"vmlinuz-{release}"
    header = vmlinux.parse_header(bzimage.read_bytes())
    payload = bzimage.read_bytes()[header.payload_start : header.payload_start + 8]
    assert vmlinux.compression(payload) == "lz4"
    dest = tmp_path / "vmlinux"
    entry = await vmlinux.extract_vmlinux(bzimage, dest)
    assert dest.read_bytes()[:4] == b"\x7fELF"
    elf = dest.read_bytes()
    assert len(elf) > 2 * bzimage.stat().st_size
    # Not truncated: the section headers and every segment lie inside the file (the kernel's
    # relocation table follows them, appended to the payload by the x86 boot build).
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    assert shoff + shentsize * shnum <= len(elf)
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    for index in range(struct.unpack_from("<H", elf, 0x38)[0]):
        p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<QQQQ", elf, phoff + index * 56 + 8
        )
        assert p_offset + p_filesz <= len(elf)
    assert vmlinux.file_pvh_entry(dest) == entry
    assert 0x1000000 <= entry < 0x4000000


async def test_module_selection_and_load_order(unpacked: tuple[Path, str], tmp_path: Path) -> None:
    tree, release = unpacked
    modroot = tmp_path / "modroot"
    count = await cloud._select_modules(tree, modroot, release)
    release_dir = modroot / "lib" / "modules" / release
    dep_map = modules.parse_modules_dep((release_dir / "modules.dep").read_text())
    assert len(dep_map) == count
    assert (release_dir / "modules.dep.bin").is_file()  # kmod's modprobe needs the indexes
    builtin = modules.parse_builtin((release_dir / "modules.builtin").read_text())
    order = [
        modules.module_name(p) for p in modules.load_order(dep_map, modules.BOOT_MODULES, builtin)
    ]
    for name in ("virtio_pci", "virtio_blk", "virtio_net", "virtio_console",
                 "vmw_vsock_virtio_transport"):  # fmt: skip
        assert name in order
    assert order.index("virtio") < order.index("virtio_pci") < order.index("virtio_blk")
    assert order.index("vsock") < order.index("vmw_vsock_virtio_transport")
    names = set(modules.by_name(dep_map))
    wanted = {"overlay", "fuse", "bridge", "br_netfilter", "veth", "tun", "nf_tables"}
    wanted |= {"nft_nat", "nft_compat", "ip_tables", "iptable_nat", "xt_conntrack", "nf_conntrack"}
    assert wanted <= names
    assert all(not path.endswith((".xz", ".zst")) for path in dep_map)
