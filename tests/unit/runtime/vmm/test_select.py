"""VMM driver selection: auto picks Firecracker only with its binaries and hardware KVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.host.detect import Verdict
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.firecracker import FirecrackerVmm
from atelier.runtime.vmm.select import make_vmm, select_vmm

KVM = Verdict(True, "hardware KVM (Intel VT-x: vmx flag present)")
NO_KVM = Verdict(False, "/dev/kvm exists but the CPU has no vmx/svm flag")


@pytest.fixture
def binaries(tmp_path: Path) -> tuple[Path, Path]:
    firecracker, jailer = tmp_path / "firecracker", tmp_path / "jailer"
    for path in (firecracker, jailer):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return firecracker, jailer


def config(firecracker: Path, jailer: Path, **extra: object) -> VmmConfig:
    return VmmConfig.model_validate(
        {"firecracker_binary": firecracker, "jailer_binary": jailer, **extra}
    )


def test_auto_picks_firecracker_with_binaries_and_kvm(binaries: tuple[Path, Path]) -> None:
    choice = select_vmm(config(*binaries), kvm=KVM)
    assert choice.driver == "firecracker"
    assert "vmx" in choice.reason


def test_auto_falls_back_to_qemu_without_hardware_kvm(binaries: tuple[Path, Path]) -> None:
    driver, reason = select_vmm(config(*binaries), kvm=NO_KVM)
    assert driver == "qemu"
    assert reason == f"auto: Firecracker not usable (no hardware KVM: {NO_KVM.reason})"


def test_auto_falls_back_to_qemu_without_the_binary(tmp_path: Path) -> None:
    choice = select_vmm(config(tmp_path / "fc", tmp_path / "jailer"), kvm=KVM)
    assert choice.driver == "qemu" and "atelier install firecracker" in choice.reason


def test_auto_needs_the_jailer_only_when_used(binaries: tuple[Path, Path], tmp_path: Path) -> None:
    firecracker, _ = binaries
    missing = tmp_path / "missing-jailer"
    assert select_vmm(config(firecracker, missing), kvm=KVM).driver == "qemu"
    assert select_vmm(config(firecracker, missing, use_jailer=False), kvm=KVM).driver == (
        "firecracker"
    )


def test_explicit_choices_are_kept_with_a_warning(tmp_path: Path) -> None:
    cfg = config(tmp_path / "fc", tmp_path / "j", driver="firecracker")
    choice = select_vmm(cfg, kvm=NO_KVM)
    assert choice.driver == "firecracker" and "warning" in choice.reason
    assert select_vmm(config(tmp_path / "fc", tmp_path / "j", driver="qemu"), kvm=KVM).driver == (
        "qemu"
    )


def test_make_vmm_builds_the_chosen_driver(binaries: tuple[Path, Path], tmp_path: Path) -> None:
    driver = make_vmm(config(*binaries), tmp_path, kvm=KVM)
    assert isinstance(driver, FirecrackerVmm)
    assert driver.run_dir("atl-sbx-abcdefgh") == tmp_path / "vm" / "atl-sbx-abcdefgh"
    assert make_vmm(config(*binaries), tmp_path, kvm=NO_KVM).name == "qemu"
