"""Configuration loading: precedence, unknown keys, bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.config import AtelierConfig, json_schema, load_config, public_view
from atelier.errors import ConfigError


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "sandbox.config.json"
    path.write_text(json.dumps(data))
    return path


def test_defaults_without_file(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.json")
    assert config.vmm.driver == "auto"
    assert config.server.port == 4000
    assert str(config.network.subnet) == "172.16.0.0/24"


def test_file_values_apply(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"server": {"port": 4100}, "vmm": {"driver": "qemu"}}))
    assert config.server.port == 4100
    assert config.vmm.driver == "qemu"


def test_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_SERVER_PORT", "4200")
    monkeypatch.setenv("ATELIER_SERVER_MODE", "mock")
    config = load_config(write(tmp_path, {"server": {"port": 4100}}))
    assert config.server.port == 4200
    assert config.server.mode == "mock"


def test_unknown_key_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {"vmm": {"drivr": "qemu"}}))
    assert "vmm.drivr" in info.value.message
    assert "unknown key" in info.value.message


def test_unknown_section_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {"frobnicate": {}}))
    assert "frobnicate" in info.value.message


def test_bad_value_names_key_value_and_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {"vmm": {"driver": "vmware"}}))
    message = info.value.message
    assert "vmm.driver" in message and "'vmware'" in message
    assert "'qemu'" in message and "'firecracker'" in message


def test_bad_env_value_names_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_SERVER_PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.json")
    assert "server.port" in info.value.message
    assert "$ATELIER_SERVER_PORT" in info.value.message


def test_unknown_env_section_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_BOGUS_THING", "1")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.json")
    assert info.value.field == "ATELIER_BOGUS_THING"


def test_invalid_json_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message and "line 1" in info.value.message


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.json")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        config.server.port = 1  # type: ignore[misc]


def test_secrets_masked_in_public_view(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, {"database": {"url": "postgresql+asyncpg://u:hunter2@db/x"}})
    )
    text = json.dumps(public_view(config))
    assert "hunter2" not in text
    assert config.database.url is not None
    assert "hunter2" in config.database.url.get_secret_value()


def test_schema_describes_sections() -> None:
    schema = json_schema()
    assert set(AtelierConfig.model_fields) <= set(schema["properties"])
