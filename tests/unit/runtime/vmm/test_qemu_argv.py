"""QEMU command lines built from a BootSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.vmm.base import BootSpec, Disk, GuestForward, Nic, PortForward
from atelier.runtime.vmm.qemu_argv import QemuOptions, RunFiles, build_argv, kernel_cmdline

TCG_Q35 = QemuOptions("qemu-system-x86_64", "q35", "tcg", 64, None)
TCG_MICROVM = QemuOptions("qemu-system-x86_64", "microvm", "tcg", 64, 2596140)
KVM_Q35 = QemuOptions("qemu-system-x86_64", "q35", "kvm", 64, None)


def spec(**overrides: object) -> BootSpec:
    values: dict[str, object] = {
        "name": "atl-dbg-abcdefgh",
        "kernel": Path("/k/vmlinux"),
        "initrd": Path("/k/bundle.cpio"),
        "cmdline": ("atelier.token=t0k",),
        "vcpus": 2,
        "memory_mb": 768,
        "disks": (Disk(Path("/pool/atl-sbx-abcdefgh"), cache="writeback"),),
    }
    values.update(overrides)
    return BootSpec(**values)  # type: ignore[arg-type]


def option(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


FILES = RunFiles(Path("/run/atelier/vm/atl-dbg-abcdefgh"))


def test_direct_kernel_boot_with_virtio_pci_on_q35() -> None:
    argv = build_argv(spec(), TCG_Q35, FILES)
    assert option(argv, "-kernel") == ["/k/vmlinux"]
    assert option(argv, "-initrd") == ["/k/bundle.cpio"]
    assert option(argv, "-accel") == ["tcg,tb-size=64"]
    assert option(argv, "-cpu") == ["max"]
    assert option(argv, "-smp") == ["2"]
    assert option(argv, "-m") == ["768M"]
    assert option(argv, "-machine")[0].startswith("q35")
    devices = option(argv, "-device")
    assert "virtio-blk-pci,drive=disk0,serial=atl0" in devices
    assert "virtio-serial-pci,id=vser0" in devices
    assert "virtserialport,bus=vser0.0,chardev=agent0,name=org.atelier.agent" in devices


@pytest.mark.parametrize(
    ("memory_mb", "cache"), [(256, 64), (768, 64), (1024, 256), (2048, 512), (8192, 1024)]
)
def test_unset_tcg_cache_scales_with_guest_memory(memory_mb: int, cache: int) -> None:
    scaled = QemuOptions("qemu-system-x86_64", "q35", "tcg", None, None)
    argv = build_argv(spec(memory_mb=memory_mb), scaled, FILES)
    assert option(argv, "-accel") == [f"tcg,tb-size={cache}"]


def test_configured_tcg_cache_wins_and_kvm_has_none() -> None:
    assert option(build_argv(spec(memory_mb=4096), TCG_Q35, FILES), "-accel") == ["tcg,tb-size=64"]
    assert option(build_argv(spec(), KVM_Q35, FILES), "-accel") == ["kvm"]


def test_vm_is_detached_and_named() -> None:
    argv = build_argv(spec(), TCG_Q35, FILES)
    assert "-daemonize" in argv
    assert option(argv, "-pidfile") == [str(FILES.pidfile)]
    assert option(argv, "-name") == ["guest=atl-dbg-abcdefgh,process=atl-dbg-abcdefgh"]
    assert "-no-reboot" in argv


def test_sandbox_volume_honours_flushes_and_pauses_on_full_pool() -> None:
    drive = option(build_argv(spec(), TCG_Q35, FILES), "-drive")[0]
    assert "cache=writeback" in drive and "cache=unsafe" not in drive
    assert "werror=enospc" in drive
    assert "format=raw" in drive


def test_read_only_disk() -> None:
    argv = build_argv(
        spec(disks=(Disk(Path("/a")), Disk(Path("/b"), read_only=True))), TCG_Q35, FILES
    )
    drives = option(argv, "-drive")
    assert "readonly=on" not in drives[0] and "readonly=on" in drives[1]


def test_microvm_uses_mmio_devices_and_tsc_early_khz() -> None:
    argv = build_argv(spec(), TCG_MICROVM, FILES)
    assert any(d.startswith("virtio-blk-device") for d in option(argv, "-device"))
    assert "tsc_early_khz=2596140" in option(argv, "-append")[0]


def test_kvm_uses_host_cpu() -> None:
    argv = build_argv(spec(), KVM_Q35, FILES)
    assert option(argv, "-accel") == ["kvm"]
    assert option(argv, "-cpu") == ["host"]


def test_cmdline_keeps_spec_params_last() -> None:
    line = kernel_cmdline(spec(), TCG_Q35)
    assert line.startswith("console=ttyS0")
    assert line.endswith("atelier.token=t0k")
    assert "i8042.noaux" in line


def test_tap_nic() -> None:
    nic = Nic(kind="tap", mac="52:54:00:00:00:02", tap="atl-abcdefgh")
    argv = build_argv(spec(nics=(nic,)), TCG_Q35, FILES)
    assert option(argv, "-netdev") == ["tap,id=net0,ifname=atl-abcdefgh,script=no,downscript=no"]
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02" in option(argv, "-device")


def test_user_nic_is_restricted_with_loopback_forwards() -> None:
    nic = Nic(
        kind="user",
        mac="52:54:00:00:00:03",
        forwards=(PortForward(40022, 22),),
        guest_forwards=(GuestForward("10.0.2.100", 4873, "127.0.0.1", 4873),),
    )
    netdev = option(build_argv(spec(nics=(nic,)), TCG_Q35, FILES), "-netdev")[0]
    assert "restrict=on" in netdev
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in netdev
    assert "guestfwd=tcp:10.0.2.100:4873-cmd:socat STDIO TCP:127.0.0.1:4873" in netdev


def test_commas_in_paths_are_escaped() -> None:
    argv = build_argv(spec(disks=(Disk(Path("/odd,name")),)), TCG_Q35, FILES)
    assert option(argv, "-drive")[0].startswith("file=/odd,,name,")


def test_file_backed_memory() -> None:
    argv = build_argv(spec(memory_file=Path("/m/ram")), TCG_Q35, FILES)
    assert "memory-backend-file,id=mem0,size=768M,mem-path=/m/ram,share=on" in option(
        argv, "-object"
    )
    assert option(argv, "-machine")[0].endswith("memory-backend=mem0")


def test_restore_uses_incoming_fd() -> None:
    argv = build_argv(spec(), TCG_Q35, FILES, incoming_fd=7)
    assert option(argv, "-incoming") == ["fd:7"]


def test_tap_nic_requires_name() -> None:
    with pytest.raises(ValueError):
        build_argv(spec(nics=(Nic(kind="tap", mac="52:54:00:00:00:02"),)), TCG_Q35, FILES)


def test_ephemeral_disk_uses_a_snapshot_overlay() -> None:
    argv = build_argv(
        spec(disks=(Disk(Path("/img"), cache="unsafe", ephemeral=True),)), TCG_Q35, FILES
    )
    drive = option(argv, "-drive")[0]
    assert "snapshot=on" in drive and "cache=unsafe" in drive


def test_netns_prefix() -> None:
    argv = build_argv(spec(), TCG_Q35, FILES, netns="atl-test-host")
    assert argv[:4] == ["ip", "netns", "exec", "atl-test-host"]
    assert argv[4] == "qemu-system-x86_64"
