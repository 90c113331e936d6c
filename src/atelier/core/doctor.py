"""`atelier doctor`: every requirement of an Atelier host, ok or missing, with the exact fix.

`Requirements(config, probe)` checks the OS, root, KVM kind, the host tools (each with the
Debian package that provides it), the driver chosen for each concern and why, the guest
kernel and images, the package caches and the systemd units. Host facts come through the
small `HostProbe` Protocol, so every check is unit-tested with a fake probe.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from atelier.config import AtelierConfig, config_path
from atelier.core.registry import registry_settings
from atelier.runtime.host import detect, proc, systemd
from atelier.runtime.host.detect import Verdict
from atelier.runtime.images.catalog import list_images
from atelier.runtime.images.kernel import list_kernels
from atelier.runtime.network.select import HostFacts, choose_driver
from atelier.runtime.registry import install as cache_install
from atelier.runtime.registry import pypi_cache, verdaccio
from atelier.runtime.vmm.select import select_vmm

__all__ = ["HostProbe", "Requirement", "Requirements", "SystemProbe", "TOOLS"]

# Host tools: (tool, what needs it, whether Atelier cannot work without it).
TOOLS: tuple[tuple[str, str, bool], ...] = (
    ("qemu-system-x86_64", "runs sandboxes without hardware KVM", True),
    ("qemu-img", "disk images", False),
    ("mmdebstrap", "builds images", True),
    ("mkfs.ext4", "builds images", True),
    ("busybox", "the boot bundle", True),
    ("cpio", "the boot bundle", True),
    ("mkfs.xfs", "the reflink storage pool", True),
    ("losetup", "the storage pool", True),
    ("ip", "the bridge network", True),
    ("nft", "isolation rules", True),
    ("dnsmasq", "guest DNS on the bridge", True),
    ("socat", "reaching guests in a network namespace", False),
    ("caddy", "HTTPS for sandbox URLs", False),
    ("ssh-keygen", "SSH keys", True),
    ("git", "workspaces", True),
    ("npm", "installs the npm cache (Verdaccio)", False),
    ("systemctl", "runs the services", False),
    ("systemd-analyze", "checks the generated units", False),
)


@dataclass(frozen=True)
class Requirement:
    """One requirement: ok or not, what was found, and the exact fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "name": self.name,
            "ok": self.ok,
            "required": self.required,
            "detail": self.detail,
            "fix": self.fix or None,
        }


class HostProbe(Protocol):
    """The facts doctor reads from the host."""

    def which(self, tool: str) -> str | None:
        """The tool's path, or None."""
        ...

    def kvm(self) -> Verdict:
        """Whether hardware KVM is usable, and why (not)."""
        ...

    def exists(self, path: Path) -> bool:
        """Whether a file exists."""
        ...

    def os_release(self) -> dict[str, str]:
        """/etc/os-release as a mapping."""
        ...

    def is_root(self) -> bool:
        """Whether this process runs as root."""
        ...


class SystemProbe:
    """The real host."""

    def which(self, tool: str) -> str | None:
        return proc.which(tool)

    def kvm(self) -> Verdict:
        return detect.usable_kvm()

    def exists(self, path: Path) -> bool:
        return path.exists()

    def os_release(self) -> dict[str, str]:
        try:
            text = Path("/etc/os-release").read_text()
        except OSError:
            return {}
        pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {k: v.strip().strip('"') for k, v in pairs}

    def is_root(self) -> bool:
        return detect.is_root()


class Requirements:
    """Every requirement for one configuration."""

    def __init__(self, config: AtelierConfig, probe: HostProbe | None = None) -> None:
        self.config = config
        self.probe = probe or SystemProbe()

    def system(self) -> list[Requirement]:
        """OS, architecture and root."""
        release = self.probe.os_release()
        debian = release.get("ID") == "debian" and release.get("VERSION_ID") == "12"
        arch = platform.machine()
        root = self.probe.is_root()
        return [
            Requirement(
                "Debian 12", debian, release.get("PRETTY_NAME", "unknown OS"),
                "" if debian else "install Debian 12 (bookworm)",
            ),
            Requirement("x86_64", arch == "x86_64", arch, "" if arch == "x86_64" else "use an x86_64 host"),
            Requirement(
                "root", root, "running as root" if root else "not root", "" if root else "run it with sudo"
            ),
        ]  # fmt: skip

    def kvm(self) -> Requirement:
        """Hardware KVM (optional: QEMU/TCG works everywhere, several times slower)."""
        verdict = self.probe.kvm()
        fix = "" if verdict.ok else "use a host with VT-x/AMD-V (bare metal or nested VMX/SVM)"
        return Requirement("hardware KVM", verdict.ok, verdict.reason, fix, required=False)

    async def tools(self) -> list[Requirement]:
        """Host tools, each with the apt package that provides it."""
        found = []
        for tool, why, required in TOOLS:
            path = self.probe.which(tool)
            package = proc.TOOL_PACKAGES.get(tool, "util-linux" if tool == "losetup" else tool)
            fix = "" if path else f"apt-get install {package}"
            found.append(
                Requirement(tool, path is not None, path or f"missing ({why})", fix, required)
            )
        venv = self.probe.exists(Path("/usr/lib/python3.11/ensurepip/__init__.py"))
        found.append(
            Requirement("python3-venv", venv, "venv with ensurepip" if venv else
                        "missing (the PyPI cache's venv)", "" if venv else
                        "apt-get install python3-venv", required=False)
        )  # fmt: skip
        return found

    def drivers(self) -> list[Requirement]:
        """The driver chosen for the VMM and the network, and why."""
        vmm = select_vmm(self.config.vmm, kvm=self.probe.kvm())
        driver, reason = choose_driver(self.config.network, HostFacts.probe())
        return [
            Requirement("vmm", True, f"{vmm.driver}: {vmm.reason}", required=False),
            Requirement("network", driver is not None, f"{driver}: {reason}", required=False),
        ]

    def artifacts(self) -> list[Requirement]:
        """The guest kernel and the default image."""
        kernels = list_kernels(self.config)
        images = {i.name for i in list_images(self.config)}
        image = self.config.images.default_image
        return [
            Requirement(
                "guest kernel", bool(kernels),
                ", ".join(sorted({k.flavour for k in kernels})) or "none built",
                "" if kernels else "atelier images kernel build",
            ),
            Requirement(
                f"image {image}", image in images, "built" if image in images else "not built",
                "" if image in images else f"atelier images build {image}",
            ),
        ]  # fmt: skip

    async def caches(self) -> list[Requirement]:
        """Verdaccio and the PyPI cache at their pinned versions (when the caches are on)."""
        if self.config.registry.mode == "off":
            return [Requirement("package caches", True, "off (registry.mode)", required=False)]
        s = registry_settings(self.config, None)
        missing = cache_install.npm_missing(s)
        pypi = await cache_install.pypi_installed(s)
        fix = "atelier init (or set registry.mode to off)"
        return [
            Requirement(
                "Verdaccio + Node", not missing, "installed: " + ", ".join(
                    f"{n}@{v}" for n, v in verdaccio.PINS.items()) if not missing else
                "missing: " + ", ".join(f"{n}@{v}" for n, v in missing.items()), "" if not missing else fix,
            ),
            Requirement(
                "PyPI cache", pypi == pypi_cache.PINS, ", ".join(f"{n}=={v}" for n, v in pypi.items())
                or f"not installed in {pypi_cache.venv_dir(s)}", "" if pypi == pypi_cache.PINS else fix,
            ),
        ]  # fmt: skip

    def units(self) -> list[Requirement]:
        """The config file and the manager's systemd unit."""
        config_file = config_path()
        unit = systemd.UNIT_DIR / systemd.MANAGER
        return [
            Requirement(
                "config file", self.probe.exists(config_file), str(config_file),
                "" if self.probe.exists(config_file) else "atelier init", required=False,
            ),
            Requirement(
                "systemd units", self.probe.exists(unit), str(unit),
                "" if self.probe.exists(unit) else "atelier init", required=False,
            ),
        ]  # fmt: skip

    async def all(self) -> list[Requirement]:
        """Every requirement, in the order doctor prints them."""
        return [
            *self.system(),
            self.kvm(),
            *await self.tools(),
            *self.drivers(),
            *self.artifacts(),
            *await self.caches(),
            *self.units(),
        ]
