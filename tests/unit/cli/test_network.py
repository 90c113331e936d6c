"""`atelier network setup|status|teardown`: JSON with the user driver, and the status view."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from atelier.cli import output
from atelier.cli.app import root
from atelier.cli.network import status_view
from atelier.core.network import (
    Allocation,
    NetworkOverview,
    NetworkStatus,
    PortStatus,
)


@pytest.fixture(autouse=True)
def reset_output() -> Iterator[None]:
    yield
    output.state.json = False


def invoke(tmp_path: Path, *args: str) -> str:
    path = tmp_path / "sandbox.config.json"
    settings = {"paths": {"data_dir": str(tmp_path), "run_dir": str(tmp_path / "run")},
                "network": {"driver": "user", "guest_allowed_host_ports": [4873]}}  # fmt: skip
    path.write_text(json.dumps(settings))
    # The harness defaults ATELIER_NETWORK_DRIVER to none (tests/conftest.py); the file decides here.
    env = {"ATELIER_CONFIG": str(path), "ATELIER_NETWORK_DRIVER": None}
    result = CliRunner().invoke(root, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_user_driver_commands_in_json(tmp_path: Path) -> None:
    setup = json.loads(invoke(tmp_path, "network", "setup", "--json"))
    assert setup == {
        "driver": "user",
        "reason": "configured (network.driver = user)",
        "changed": False,
        "changes": [],
    }
    status = json.loads(invoke(tmp_path, "network", "status", "--json"))
    assert status["driver"] == "user" and status["healthy"] and status["allocations"] == []
    assert "[4873]" in status["notes"][0]
    teardown = json.loads(invoke(tmp_path, "network", "teardown", "--json"))
    assert teardown["changed"] is False


def test_status_view_shows_problems_ports_and_allocations() -> None:
    allocation = Allocation(
        sandbox_id="abcdefgh", driver="bridge", subnet=IPv4Network("172.16.0.0/24"),
        ip=IPv4Address("172.16.0.2"), gateway=IPv4Address("172.16.0.1"),
        mac="02:a7:ac:10:00:02", tap="atl-abcdefgh",
    )  # fmt: skip
    status = NetworkStatus(
        driver="bridge",
        bridge="atl-br0",
        bridge_exists=True,
        bridge_up=True,
        addresses=("172.16.0.1/24",),
        firewall="nftables",
        rules=("bridge atelier", "inet atelier"),
        forwarding=True,
        dns="dnsmasq on 172.16.0.1 (pid 42)",
        ports=(PortStatus("atl-abcdefgh", "abcdefgh", True, True, True, False),),
        allocations=(allocation,),
        problems=("TAP atl-abcdefgh has no pinning rules (it gets nothing through)",),
    )
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(status_view(NetworkOverview("bridge", "auto: root", status)))
    text = console.file.getvalue()  # type: ignore[attr-defined]  # a StringIO
    for expected in (
        "atl-br0 (up)",
        "bridge atelier, inet atelier",
        "dnsmasq on 172.16.0.1 (pid 42)",
        "atl-abcdefgh │ abcdefgh │ yes │ yes       │ yes      │ NO",
        "172.16.0.2/24 │ 02:a7:ac:10:00:02",
        "problem: TAP atl-abcdefgh has no pinning rules",
    ):
        assert expected in text, text
    assert "healthy" not in text
