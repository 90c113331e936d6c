"""Which VMM driver runs sandboxes, and why.

`select_vmm` maps `vmm.driver` to a driver name plus the reason, which `atelier doctor`
prints; `auto` picks Firecracker only when its binary (and the jailer, if used) is
installed and the host has hardware KVM, else QEMU. `make_vmm` builds the chosen driver,
importing it lazily so a host without one driver's dependencies can still run the other.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import NamedTuple

from atelier.runtime.host import detect
from atelier.runtime.host.detect import Verdict
from atelier.runtime.vmm.base import Vmm
from atelier.runtime.vmm.config import VmmConfig
from atelier.runtime.vmm.errors import VmmError

# driver name -> (module, class); every class takes (VmmConfig, run_root).
DRIVERS: dict[str, tuple[str, str]] = {
    "firecracker": ("atelier.runtime.vmm.firecracker", "FirecrackerVmm"),
    "qemu": ("atelier.runtime.vmm.qemu", "QemuVmm"),
    "mock": ("atelier.runtime.vmm.mock", "MockVmm"),
}


class VmmChoice(NamedTuple):
    """The chosen driver and the reason, e.g. ("qemu", "auto: no hardware KVM: ...")."""

    driver: str
    reason: str


def firecracker_ready(config: VmmConfig, kvm: Verdict) -> Verdict:
    """Whether Firecracker can run guests here: binaries installed and hardware KVM.

    A negative verdict names every missing piece.
    """
    problems = []
    if not os.access(config.firecracker_binary, os.X_OK):
        problems.append(
            f"{config.firecracker_binary} is not installed (see `atelier install firecracker`)"
        )
    if config.use_jailer and not os.access(config.jailer_binary, os.X_OK):
        problems.append(f"{config.jailer_binary} is not installed (vmm.use_jailer=true)")
    if not kvm.ok:
        problems.append(f"no hardware KVM: {kvm.reason}")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"{config.firecracker_binary} installed and {kvm.reason}")


def select_vmm(config: VmmConfig, *, kvm: Verdict | None = None) -> VmmChoice:
    """The driver for `config.driver`, with the reason (`kvm` defaults to detection)."""
    if config.driver == "qemu":
        return VmmChoice("qemu", "configured (vmm.driver=qemu)")
    if config.driver == "mock":
        return VmmChoice("mock", "configured (vmm.driver=mock): no real VMs")
    ready = firecracker_ready(config, kvm if kvm is not None else detect.usable_kvm())
    if config.driver == "firecracker":
        warning = "" if ready.ok else f"; warning: {ready.reason}"
        return VmmChoice("firecracker", f"configured (vmm.driver=firecracker){warning}")
    if ready.ok:
        return VmmChoice("firecracker", f"auto: {ready.reason}")
    return VmmChoice("qemu", f"auto: Firecracker not usable ({ready.reason})")


def make_vmm(config: VmmConfig, run_root: Path, *, kvm: Verdict | None = None) -> Vmm:
    """Build the driver `select_vmm` picks. Raises VmmError when it cannot be loaded."""
    choice = select_vmm(config, kvm=kvm)
    module_name, class_name = DRIVERS[choice.driver]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise VmmError(
            f"the {choice.driver} VMM driver cannot be loaded: {exc}",
            hint="pick another vmm.driver",
        ) from exc
    driver = getattr(module, class_name)(config, run_root)
    if not isinstance(driver, Vmm):
        raise VmmError(f"{module_name}.{class_name} does not implement the Vmm protocol")
    return driver
