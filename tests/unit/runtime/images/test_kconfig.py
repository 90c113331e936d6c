"""The kernel config fragment: parsing, merging and checking a resolved .config."""

from __future__ import annotations

import pytest

from atelier.runtime.images import kbuild, kconfig

FRAGMENT = """\
# comment
CONFIG_PVH=y
# CONFIG_MODULES is not set
CONFIG_LOCALVERSION="-atelier"

CONFIG_VIRTIO_MMIO=y
"""

# Options the guest needs (the task's list); each must be required by the shipped fragment.
MUST_BE_REQUIRED = (
    "CONFIG_PVH", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_VIRTIO_BLK", "CONFIG_VIRTIO_NET",
    "CONFIG_VIRTIO_CONSOLE", "CONFIG_VIRTIO_VSOCKETS", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_MMIO",
    "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES", "CONFIG_EXT4_FS", "CONFIG_XFS_FS", "CONFIG_BTRFS_FS",
    "CONFIG_DEVTMPFS", "CONFIG_DEVTMPFS_MOUNT", "CONFIG_TMPFS", "CONFIG_BLK_DEV_INITRD",
    "CONFIG_HW_RANDOM_VIRTIO", "CONFIG_VMGENID", "CONFIG_IPV6", "CONFIG_NF_TABLES",
    "CONFIG_NFT_NAT", "CONFIG_NFT_COMPAT", "CONFIG_NF_CONNTRACK", "CONFIG_IP_NF_IPTABLES",
    "CONFIG_IP6_NF_IPTABLES", "CONFIG_NETFILTER_XT_MATCH_CONNTRACK", "CONFIG_CGROUPS",
    "CONFIG_MEMCG", "CONFIG_CGROUP_PIDS", "CONFIG_CPUSETS", "CONFIG_USER_NS", "CONFIG_NET_NS",
    "CONFIG_PID_NS", "CONFIG_OVERLAY_FS", "CONFIG_FUSE_FS", "CONFIG_BLK_DEV_LOOP", "CONFIG_VETH",
    "CONFIG_BRIDGE", "CONFIG_TUN", "CONFIG_MACVLAN", "CONFIG_VXLAN", "CONFIG_SECCOMP_FILTER",
    "CONFIG_BPF_SYSCALL",
)  # fmt: skip


def test_parse_fragment() -> None:
    fragment = kconfig.parse_fragment(FRAGMENT)
    assert fragment.required == ("CONFIG_PVH", "CONFIG_VIRTIO_MMIO")
    assert fragment.disabled == ("CONFIG_MODULES",)
    assert fragment.values == (("CONFIG_LOCALVERSION", '"-atelier"'),)
    assert fragment.option_count == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CONFIG_A=m\n", "not set"),
        ("CONFIG_A=n\n", "not set"),
        ("hello\n", "not a kernel config line"),
        ("CONFIG_A=y\n# CONFIG_A is not set\n", "more than once"),
    ],
)
def test_parse_fragment_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kconfig.parse_fragment(text)


def test_check_config_reports_dropped_modules_and_leftovers() -> None:
    fragment = kconfig.parse_fragment(FRAGMENT)
    config = kconfig.parse_config("CONFIG_PVH=y\nCONFIG_MODULES=y\nCONFIG_FOO=m\n")
    check = kconfig.check_config(fragment, config)
    assert check.dropped == ("CONFIG_VIRTIO_MMIO (not set)",)
    assert check.still_enabled == ("CONFIG_MODULES",)
    assert check.modules == ("CONFIG_FOO",)
    assert not check.ok


def test_check_config_names_the_value_a_required_option_got() -> None:
    fragment = kconfig.parse_fragment("CONFIG_A=y\n")
    check = kconfig.check_config(fragment, {"CONFIG_A": "m"})
    assert check.dropped == ("CONFIG_A (=m)",)


def test_check_config_ok() -> None:
    fragment = kconfig.parse_fragment(FRAGMENT)
    config = {"CONFIG_PVH": "y", "CONFIG_VIRTIO_MMIO": "y", "CONFIG_LOCALVERSION": '"-x"'}
    assert kconfig.check_config(fragment, config).ok


def test_merge_replaces_and_appends() -> None:
    base = "CONFIG_PVH=n\n# CONFIG_VIRTIO_MMIO is not set\nCONFIG_MODULES=y\nCONFIG_KEEP=y\n"
    merged = kbuild.merge_fragment(base, kconfig.parse_fragment(FRAGMENT))
    parsed = kconfig.parse_config(merged)
    assert parsed["CONFIG_PVH"] == "y"
    assert parsed["CONFIG_VIRTIO_MMIO"] == "y"
    assert parsed["CONFIG_KEEP"] == "y"
    assert parsed["CONFIG_LOCALVERSION"] == '"-atelier"'
    assert "CONFIG_MODULES" not in parsed
    assert "# CONFIG_MODULES is not set" in merged.splitlines()
    assert merged.count("CONFIG_PVH") == 1


def test_shipped_fragment_requires_what_sandboxes_need() -> None:
    fragment = kconfig.parse_fragment(kconfig.fragment_text())
    missing = [name for name in MUST_BE_REQUIRED if name not in fragment.required]
    assert missing == []
    assert "CONFIG_MODULES" in fragment.disabled
    for dropped in ("CONFIG_DRM", "CONFIG_SOUND", "CONFIG_USB_SUPPORT", "CONFIG_FTRACE"):
        assert dropped in fragment.disabled


def test_build_inputs_digest_covers_every_input() -> None:
    base = kbuild.BuildInputs("6.1.1-1", "CONFIG_A=y\n", "gcc 12")
    variants = [
        kbuild.BuildInputs("6.1.1-2", "CONFIG_A=y\n", "gcc 12"),
        kbuild.BuildInputs("6.1.1-1", "CONFIG_B=y\n", "gcc 12"),
        kbuild.BuildInputs("6.1.1-1", "CONFIG_A=y\n", "gcc 13"),
    ]
    assert len({base.digest, *(v.digest for v in variants)}) == 4
    assert base.digest == kbuild.BuildInputs("6.1.1-1", "CONFIG_A=y\n", "gcc 12").digest
