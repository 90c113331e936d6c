"""KVM usability and clock detection from /proc/cpuinfo text."""

from __future__ import annotations

from pathlib import Path

from atelier.runtime.host import detect

CPUINFO_PVM = "processor\t: 0\ncpu MHz\t\t: 2596.140\nflags\t\t: fpu vme sse sse2 hypervisor\n"
CPUINFO_VMX = "processor\t: 0\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu vmx sse\n"


def test_nested_pvm_kvm_is_not_usable(tmp_path: Path) -> None:
    device = tmp_path / "kvm"
    device.write_text("")
    verdict = detect.usable_kvm(CPUINFO_PVM, device)
    assert not verdict.ok
    assert "vmx/svm" in verdict.reason


def test_hardware_kvm_is_usable(tmp_path: Path) -> None:
    device = tmp_path / "kvm"
    device.write_text("")
    verdict = detect.usable_kvm(CPUINFO_VMX, device)
    assert verdict.ok and "vmx" in verdict.reason


def test_missing_device(tmp_path: Path) -> None:
    verdict = detect.usable_kvm(CPUINFO_VMX, tmp_path / "nope")
    assert not verdict.ok and "does not exist" in verdict.reason


def test_tsc_khz() -> None:
    assert detect.tsc_khz(CPUINFO_PVM) == 2596140
    assert detect.tsc_khz("flags: x\n") is None
