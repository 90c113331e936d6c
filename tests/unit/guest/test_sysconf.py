"""System configuration helpers against a temporary root and a fake /sys/class/net."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.guest import sysconf
from atelier.guest.session import OpError


def test_hostname_files(tmp_path: Path) -> None:
    sysconf.set_hostname("sandbox-ab12.example.test", str(tmp_path))
    assert (tmp_path / "etc/hostname").read_text() == "sandbox-ab12.example.test\n"
    hosts = (tmp_path / "etc/hosts").read_text()
    assert "127.0.1.1\tsandbox-ab12.example.test sandbox-ab12\n" in hosts and "::1" in hosts


@pytest.mark.parametrize("name", ["", "-bad", "bad_name", "a" * 64, "ok..dots", "é"])
def test_invalid_hostnames_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(OpError):
        sysconf.set_hostname(name, str(tmp_path))


def test_resolv_and_machine_id(tmp_path: Path) -> None:
    assert sysconf.resolv_text(["1.1.1.1", "2606:4700::1111"], ["corp"]) == (
        "nameserver 1.1.1.1\nnameserver 2606:4700::1111\nsearch corp\n"
    )
    first = sysconf.new_machine_id(str(tmp_path))
    second = sysconf.new_machine_id(str(tmp_path))
    assert len(first) == 32 and first != second
    assert (tmp_path / "etc/machine-id").read_text() == second + "\n"


def test_identity_changes_only_for_a_new_key(tmp_path: Path) -> None:
    assert sysconf.identity_changed("sb-1", str(tmp_path))
    assert not sysconf.identity_changed("sb-1", str(tmp_path))
    assert sysconf.identity_changed("sb-2", str(tmp_path))


def fake_net(root: Path, nics: dict[str, tuple[str, bool]]) -> Path:
    for name, (mac, has_device) in nics.items():
        (root / name).mkdir(parents=True)
        (root / name / "address").write_text(mac + "\n")
        if has_device:
            (root / name / "device").mkdir()
    return root


def test_pick_interface(tmp_path: Path) -> None:
    net = fake_net(tmp_path, {
        "lo": ("00:00:00:00:00:00", False), "docker0": ("02:42:00:00:00:01", False),
        "ens3": ("52:54:00:aa:bb:cc", True), "eth1": ("52:54:00:00:00:02", True),
    })  # fmt: skip
    assert sysconf.pick_interface(sys_net=str(net)) == "ens3"
    assert sysconf.pick_interface("52:54:00:00:00:02", str(net)) == "eth1"
    assert sysconf.pick_interface("52:54:00:00:00:99", str(net)) is None


def test_network_commands_are_argv_lists() -> None:
    cmds = sysconf.network_commands(
        "eth0", {"ip": "10.0.0.5/24", "gw": "10.0.0.1", "ip6": "fd00::5/64", "gw6": "fd00::1"}
    )
    assert cmds == [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "flush", "dev", "eth0", "scope", "global"],
        ["ip", "-4", "addr", "add", "10.0.0.5/24", "dev", "eth0"],
        ["ip", "-6", "addr", "add", "fd00::5/64", "dev", "eth0"],
        ["ip", "link", "set", "eth0", "up"],
        ["ip", "-4", "route", "replace", "default", "via", "10.0.0.1", "dev", "eth0"],
        ["ip", "-6", "route", "replace", "default", "via", "fd00::1", "dev", "eth0"],
    ]
    with pytest.raises(OpError, match="ip"):
        sysconf.network_commands("eth0", {"ip": "10.0.0.5; reboot"})
    with pytest.raises(OpError, match="gw"):
        sysconf.network_commands("eth0", {"gw": "router"})
