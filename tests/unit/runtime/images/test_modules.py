"""Choosing the cloud kernel's modules and ordering them for insmod."""

from __future__ import annotations

import pytest

from atelier.runtime.images import modules

DEP = """\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko
kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko
kernel/net/netfilter/nft_ct.ko: kernel/net/netfilter/nf_tables.ko
kernel/lib/libcrc32c.ko:
kernel/fs/overlayfs/overlay.ko:
kernel/sound/core/snd.ko:
"""


def test_module_name_normalises() -> None:
    assert modules.module_name("kernel/drivers/char/hw_random/virtio-rng.ko.xz") == "virtio_rng"
    assert modules.module_name("kernel/fs/overlayfs/overlay.ko") == "overlay"


def test_load_order_puts_dependencies_first_and_skips_builtins() -> None:
    dep_map = modules.parse_modules_dep(DEP)
    order = modules.load_order(
        dep_map, ["virtio_blk", "virtio_pci", "virtio-rng", "ext4"], {"ext4"}
    )
    names = [modules.module_name(path) for path in order]
    assert names == ["virtio", "virtio_ring", "virtio_blk", "virtio_pci_modern_dev", "virtio_pci",
                     "virtio_rng"]  # fmt: skip
    assert len(order) == len(set(order))


def test_load_order_names_an_unknown_module() -> None:
    with pytest.raises(KeyError, match="no_such"):
        modules.load_order(modules.parse_modules_dep(DEP), ["no_such"], set())


def test_select_takes_prefixes_names_and_dependencies() -> None:
    chosen = modules.select(
        modules.parse_modules_dep(DEP), ["overlay", "absent"], ["kernel/net/netfilter/"]
    )
    assert chosen == sorted(
        [
            "kernel/fs/overlayfs/overlay.ko",
            "kernel/net/netfilter/nf_tables.ko",
            "kernel/net/netfilter/nft_ct.ko",
            "kernel/lib/libcrc32c.ko",
        ]
    )


def test_parse_builtin() -> None:
    assert modules.parse_builtin("kernel/fs/ext4/ext4.ko\nkernel/net/ipv6/ipv6.ko\n") == {
        "ext4",
        "ipv6",
    }


def test_uncompressed_path() -> None:
    assert modules.uncompressed_path("a/b.ko.xz") == "a/b.ko"
    assert modules.uncompressed_path("a/b.ko.zst") == "a/b.ko"
    assert modules.uncompressed_path("a/b.ko") == "a/b.ko"


def test_boot_modules_cover_the_devices_a_sandbox_uses() -> None:
    for name in ("virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console",
                 "vmw_vsock_virtio_transport", "virtio_rng"):  # fmt: skip
        assert name in modules.BOOT_MODULES
