"""Doctor's requirement checks against a fake host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.core.doctor import TOOLS, Requirements
from atelier.runtime.host.detect import Verdict


@dataclass
class FakeHost:
    tools: set[str] = field(default_factory=lambda: {t for t, _, _ in TOOLS})
    files: set[Path] = field(default_factory=set)
    release: dict[str, str] = field(
        default_factory=lambda: {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian 12"}
    )
    root: bool = True
    kvm_ok: bool = False

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def kvm(self) -> Verdict:
        return Verdict(self.kvm_ok, "hardware KVM" if self.kvm_ok else "no vmx/svm flag")

    def exists(self, path: Path) -> bool:
        return path in self.files

    def os_release(self) -> dict[str, str]:
        return self.release

    def is_root(self) -> bool:
        return self.root


def config(tmp: Path) -> AtelierConfig:
    return AtelierConfig(paths={"data_dir": tmp / "d", "run_dir": tmp / "r", "cache_dir": tmp})


def test_system_requirements(tmp_path: Path) -> None:
    host = FakeHost(release={"ID": "ubuntu", "PRETTY_NAME": "Ubuntu 24.04"}, root=False)
    found = {r.name: r for r in Requirements(config(tmp_path), host).system()}
    assert not found["Debian 12"].ok and found["Debian 12"].detail == "Ubuntu 24.04"
    assert not found["root"].ok and found["root"].fix == "run it with sudo"


async def test_missing_tools_name_the_apt_package(tmp_path: Path) -> None:
    host = FakeHost(tools={t for t, _, _ in TOOLS} - {"dnsmasq", "qemu-system-x86_64", "caddy"})
    found = {r.name: r for r in await Requirements(config(tmp_path), host).tools()}
    assert found["dnsmasq"].fix == "apt-get install dnsmasq-base"
    assert found["qemu-system-x86_64"].fix == "apt-get install qemu-system-x86"
    assert found["qemu-system-x86_64"].required and not found["caddy"].required
    assert found["mkfs.xfs"].ok and found["mkfs.xfs"].fix == ""
    assert found["python3-venv"].fix == "apt-get install python3-venv"


def test_kvm_is_optional_with_a_reason(tmp_path: Path) -> None:
    kvm = Requirements(config(tmp_path), FakeHost(kvm_ok=False)).kvm()
    assert not kvm.ok and not kvm.required and kvm.detail == "no vmx/svm flag"
    assert Requirements(config(tmp_path), FakeHost(kvm_ok=True)).kvm().ok


def test_artifacts_say_which_command_builds_them(tmp_path: Path) -> None:
    found = {r.name: r for r in Requirements(config(tmp_path), FakeHost()).artifacts()}
    assert found["guest kernel"].fix == "atelier images kernel build"
    assert found["image minimal"].fix == "atelier images build minimal"


async def test_caches_when_on_and_off(tmp_path: Path) -> None:
    off = await Requirements(config(tmp_path), FakeHost()).caches()
    assert [r.ok for r in off] == [True]
    on = config(tmp_path).model_copy(update={"registry": config(tmp_path).registry.model_copy(
        update={"mode": "service"})})  # fmt: skip
    found = await Requirements(on, FakeHost()).caches()
    assert [r.ok for r in found] == [False, False]
    assert all(r.fix.startswith("atelier init") for r in found)
    assert "verdaccio@6.10.4" in found[0].detail


def test_units_missing_until_init(tmp_path: Path) -> None:
    found = Requirements(config(tmp_path), FakeHost()).units()
    assert [r.fix for r in found] == ["atelier init", "atelier init"]
    host = FakeHost(files={Path("/etc/systemd/system/atelier-manager.service")})
    assert Requirements(config(tmp_path), host).units()[1].ok
