"""What this host can do: hardware virtualisation, clock rate, tools.

Detection is explicit and explains itself: every probe returns a verdict together with the
reason, so `atelier doctor` and `atelier manager status` can say why a driver was chosen.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
KVM_DEVICE = Path("/dev/kvm")


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer with the reason behind it."""

    ok: bool
    reason: str


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU flags of the first processor in /proc/cpuinfo."""
    text = cpuinfo if cpuinfo is not None else CPUINFO.read_text()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def usable_kvm(cpuinfo: str | None = None, device: Path = KVM_DEVICE) -> Verdict:
    """Whether /dev/kvm can run standard guest kernels.

    A nested paravirtual KVM (kvm_pvm) exposes /dev/kvm without the vmx/svm CPU flag;
    stock kernels hang or crash under it, so it does not count.
    """
    if platform.machine() != "x86_64":
        return Verdict(False, f"unsupported architecture {platform.machine()} (need x86_64)")
    if not device.exists():
        return Verdict(False, f"{device} does not exist (no KVM module loaded)")
    if not os.access(device, os.R_OK | os.W_OK):
        return Verdict(False, f"{device} is not readable and writable by this user")
    flags = cpu_flags(cpuinfo)
    if "vmx" in flags:
        return Verdict(True, "hardware KVM (Intel VT-x: vmx flag present)")
    if "svm" in flags:
        return Verdict(True, "hardware KVM (AMD-V: svm flag present)")
    return Verdict(
        False,
        f"{device} exists but the CPU has no vmx/svm flag (nested paravirtual KVM such as"
        " kvm_pvm), which cannot run standard guest kernels",
    )


def tsc_khz(cpuinfo: str | None = None) -> int | None:
    """The host TSC rate in kHz, read from the 'cpu MHz' line, or None when unknown.

    QEMU's TCG guest TSC runs at this rate; passing it as `tsc_early_khz` avoids the
    PIT-calibration hang of the microvm machine type.
    """
    text = cpuinfo if cpuinfo is not None else CPUINFO.read_text()
    for line in text.splitlines():
        if line.startswith("cpu MHz"):
            try:
                return round(float(line.split(":", 1)[1]) * 1000)
            except ValueError:
                return None
    return None


def is_root() -> bool:
    """True when running as uid 0."""
    return os.geteuid() == 0
