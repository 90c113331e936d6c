"""Pure builders for QEMU command lines.

Everything here is side-effect free so the exact argv can be unit-tested. The driver in
`qemu.py` decides the options (accelerator, machine) and runs the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atelier.runtime.vmm.base import BootSpec, Disk, Nic

Machine = Literal["q35", "microvm"]
Accel = Literal["kvm", "tcg"]

AGENT_PORT_NAME = "org.atelier.agent"


@dataclass(frozen=True)
class QemuOptions:
    """Host-dependent choices the driver made for one VM."""

    binary: str
    machine: Machine
    accel: Accel
    tb_size_mb: int | None  # None: scaled to the guest's memory (tcg_cache_mb)
    tsc_khz: int | None  # passed as tsc_early_khz on microvm under TCG


@dataclass(frozen=True)
class RunFiles:
    """The files of one VM's run directory."""

    run_dir: Path

    @property
    def qmp(self) -> Path:
        return self.run_dir / "qmp.sock"

    @property
    def agent(self) -> Path:
        return self.run_dir / "agent.sock"

    @property
    def console(self) -> Path:
        return self.run_dir / "console.log"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "qemu.pid"

    @property
    def state(self) -> Path:
        return self.run_dir / "vm.json"

    @property
    def qemu_log(self) -> Path:
        return self.run_dir / "qemu.log"


def _virtio(machine: Machine, device: str) -> str:
    # q35 puts virtio on PCI; microvm exposes virtio-mmio transports.
    return f"virtio-{device}-pci" if machine == "q35" else f"virtio-{device}-device"


def kernel_cmdline(spec: BootSpec, opts: QemuOptions) -> str:
    """The kernel command line: console, panic behaviour, machine quirks, then the spec's."""
    params = ["console=ttyS0", "panic=-1", "quiet", "loglevel=4", "atelier.root=/dev/vda"]
    # On a loaded TCG host the IO-APIC timer check can run too slowly and panic the kernel
    # ("IO-APIC + timer doesn't work"); skipping it is standard practice for VM guests.
    params.append("no_timer_check")
    if opts.machine == "q35":
        params.append("i8042.noaux")  # skip the PS/2 mouse probe (0.6 s under TCG)
    if opts.machine == "microvm" and opts.accel == "tcg" and opts.tsc_khz:
        # Without it ~7 % of microvm TCG boots hang calibrating against a PIT that never ticks.
        params.append(f"tsc_early_khz={opts.tsc_khz}")
    params.extend(spec.cmdline)
    return " ".join(params)


def _drive_args(index: int, disk: Disk, machine: Machine) -> list[str]:
    parts = [
        f"file={_escape(os.fspath(disk.path))}",
        "if=none",
        f"id=disk{index}",
        "format=raw",
        f"cache={disk.cache}",
        "aio=threads",
        # A full pool pauses the VM (QMP BLOCK_IO_ERROR, status io-error) instead of
        # handing ENOSPC to the guest filesystem; other errors reach the guest.
        "werror=enospc",
        "rerror=report",
    ]
    if disk.read_only:
        parts.append("readonly=on")
    if disk.ephemeral:
        # Writes go to a temporary overlay QEMU unlinks at once: nothing is left behind.
        parts.append("snapshot=on")
    return [
        "-drive", ",".join(parts),
        "-device", f"{_virtio(machine, 'blk')},drive=disk{index},serial=atl{index}",
    ]  # fmt: skip


def _nic_args(index: int, nic: Nic, machine: Machine) -> list[str]:
    netdev_id = f"net{index}"
    if nic.kind == "tap":
        if not nic.tap:
            raise ValueError("a tap NIC needs its TAP device name")
        netdev = f"tap,id={netdev_id},ifname={nic.tap},script=no,downscript=no"
    else:
        parts = [f"user,id={netdev_id}"]
        if nic.restrict:
            parts.append("restrict=on")
        for fwd in nic.forwards:
            parts.append(f"hostfwd=tcp:{fwd.host_addr}:{fwd.host_port}-:{fwd.guest_port}")
        for gfwd in nic.guest_forwards:
            # The `cmd:` form opens one host connection per guest connection; a `tcp:`
            # chardev connects once at start and serves a single connection. QEMU runs the
            # command through /bin/sh; every part of it is an address or port we built.
            parts.append(
                f"guestfwd=tcp:{gfwd.guest_addr}:{gfwd.guest_port}"
                f"-cmd:socat STDIO TCP:{gfwd.host_addr}:{gfwd.host_port}"
            )
        netdev = ",".join(parts)
    return [
        "-netdev", netdev,
        "-device", f"{_virtio(machine, 'net')},netdev={netdev_id},mac={nic.mac}",
    ]  # fmt: skip


def _memory_args(spec: BootSpec) -> list[str]:
    size = f"{spec.memory_mb}M"
    if spec.memory_file is None:
        return ["-m", size]
    backend = (
        f"memory-backend-file,id=mem0,size={size},"
        f"mem-path={_escape(os.fspath(spec.memory_file))},share=on"
    )
    return ["-m", size, "-object", backend]


def _machine_arg(opts: QemuOptions, spec: BootSpec) -> str:
    if opts.machine == "q35":
        machine = "q35,smbus=off,sata=off,usb=off,vmport=off"
    else:
        machine = "microvm,x-option-roms=off,isa-serial=on,rtc=on,pcie=off"
    if spec.memory_file is not None:
        machine += ",memory-backend=mem0"
    return machine


def tcg_cache_mb(memory_mb: int) -> int:
    """TCG's translation cache for a guest: 64 MiB below 1 GiB of memory, else a quarter of it.

    A cache smaller than the code a guest runs is flushed and refilled over and over: with
    64 MiB, dev-base's Chromium, code-server and OpenCode together never got Chromium's first
    page drawn (512 MiB: about a minute). Small guests keep 64 MiB: QEMU keeps what it filled
    resident, and a `minimal` sandbox's host memory grew from 131 to 191 MiB with 128.
    """
    if memory_mb < 1024:
        return 64
    return min(1024, memory_mb // 4)


def build_argv(
    spec: BootSpec,
    opts: QemuOptions,
    files: RunFiles,
    *,
    incoming_fd: int | None = None,
    netns: str | None = None,
) -> list[str]:
    """The full QEMU argv for a VM. The process daemonizes once its sockets exist.

    With `netns`, QEMU runs inside that network namespace (where its TAP devices live).
    """
    tb_size = opts.tb_size_mb or tcg_cache_mb(spec.memory_mb)
    accel = "kvm" if opts.accel == "kvm" else f"tcg,tb-size={tb_size}"
    cpu = "host" if opts.accel == "kvm" else "max"
    argv: list[str] = [
        opts.binary,
        "-name", f"guest={spec.name},process={spec.name}",
        "-nodefaults", "-no-user-config", "-no-reboot",
        "-display", "none", "-vga", "none",
        "-daemonize", "-pidfile", os.fspath(files.pidfile),
        "-D", os.fspath(files.qemu_log),
        "-machine", _machine_arg(opts, spec),
        "-accel", accel,
        "-cpu", cpu,
        "-smp", str(spec.vcpus),
        *_memory_args(spec),
        "-kernel", os.fspath(spec.kernel),
    ]  # fmt: skip
    if spec.initrd is not None:
        argv += ["-initrd", os.fspath(spec.initrd)]
    argv += ["-append", kernel_cmdline(spec, opts)]
    argv += [
        "-chardev", f"file,id=con0,path={_escape(os.fspath(files.console))}",
        "-serial", "chardev:con0",
        "-qmp", f"unix:{_escape(os.fspath(files.qmp))},server=on,wait=off",
        "-chardev", f"socket,id=agent0,path={_escape(os.fspath(files.agent))},server=on,wait=off",
        "-device", f"{_virtio(opts.machine, 'serial')},id=vser0",
        "-device", f"virtserialport,bus=vser0.0,chardev=agent0,name={AGENT_PORT_NAME}",
        "-device", f"{_virtio(opts.machine, 'rng')}",
    ]  # fmt: skip
    for index, disk in enumerate(spec.disks):
        argv += _drive_args(index, disk, opts.machine)
    for index, nic in enumerate(spec.nics):
        argv += _nic_args(index, nic, opts.machine)
    if incoming_fd is not None:
        argv += ["-incoming", f"fd:{incoming_fd}"]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    return argv


def _escape(value: str) -> str:
    # QEMU option values use ',' as separator; a literal comma is written twice.
    return value.replace(",", ",,")
