"""The `ssh` config section: defaults, the host key path, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.config import AtelierConfig, load_config
from atelier.errors import ConfigError
from atelier.runtime.ssh.config import SshConfig


def test_defaults() -> None:
    config = SshConfig()
    assert config.port == 2222
    assert config.guest_user == "dev"
    assert config.agent_forwarding and config.port_forwarding
    assert config.host_key_file(Path("/d")) == Path("/d/ssh/gateway_host_ed25519_key")
    assert SshConfig(host_key_path=Path("/k")).host_key_file(Path("/d")) == Path("/k")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATELIER_SSH_PORT", "2200")
    monkeypatch.setenv("ATELIER_SSH_AGENT_FORWARDING", "false")
    config = load_config(tmp_path / "missing.json")
    assert config.ssh.port == 2200
    assert config.ssh.agent_forwarding is False
    assert AtelierConfig().ssh.port == 2200


def test_bad_values_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"ssh": {"port": 70000, "guest_user": "Root!"}}')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "ssh.port" in info.value.message and "ssh.guest_user" in info.value.message
