"""Configuration section for the VMM drivers (`vmm` in the config file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VmmDriverName = Literal["auto", "qemu", "firecracker", "mock"]


class VmmConfig(BaseModel):
    """Which VMM runs sandboxes and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: VmmDriverName = Field(
        "auto", description="auto picks firecracker with hardware KVM, else qemu"
    )
    qemu_binary: str = "qemu-system-x86_64"
    qemu_machine: Literal["auto", "q35", "microvm"] = Field(
        "auto", description="auto: q35 (robust under TCG); microvm gets tsc_early_khz"
    )
    qemu_accel: Literal["auto", "kvm", "tcg"] = Field(
        "auto", description="auto: kvm only with hardware vmx/svm, else tcg"
    )
    qemu_tb_size_mb: int | None = Field(
        None,
        ge=16,
        le=2048,
        description="TCG translation cache size; unset: 64 MiB for guests below 1 GiB, "
        "else a quarter of the guest's memory (at most 1024 MiB)",
    )
    firecracker_binary: Path = Path("/usr/local/bin/firecracker")
    jailer_binary: Path = Path("/usr/local/bin/jailer")
    use_jailer: bool = True
    jailer_uid: int = Field(1000, ge=0)
    jailer_gid: int = Field(1000, ge=0)
    jailer_chroot_base: Path = Path("/srv/jailer")
    boot_timeout_s: float = Field(90.0, gt=0, description="boot-to-agent timeout")
    firecracker_balloon: bool = Field(
        True, description="attach a (deflated) balloon device so memory can be reclaimed later"
    )
    firecracker_balloon_stats_s: int = Field(
        5, ge=0, description="balloon statistics polling interval; 0 disables statistics"
    )
    firecracker_track_dirty_pages: bool = Field(
        False, description="track dirty pages so diff snapshots stay small (costs some speed)"
    )
