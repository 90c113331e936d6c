"""Running Caddy: argv, environment, base config file and the systemd unit."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from atelier.runtime.proxy.config import ProxyConfig, ProxySettings, resolve
from atelier.runtime.proxy.errors import ProxyError
from atelier.runtime.proxy.process import (
    CaddyProcess,
    caddy_argv,
    caddy_env,
    systemd_unit,
    write_config,
)


def settings(tmp_path: Path, **values: object) -> ProxySettings:
    return resolve(
        ProxyConfig(**values),
        data_dir=tmp_path / "data",
        run_dir=tmp_path / "run",
        manager_host="127.0.0.1",
        manager_port=4000,
    )


def test_argv_and_env(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert caddy_argv("/usr/bin/caddy", s.config_file) == [
        "/usr/bin/caddy", "run", "--config", str(tmp_path / "data/caddy/atelier-caddy.json"),
    ]  # fmt: skip
    env = caddy_env(s)
    assert env == {
        "XDG_DATA_HOME": str(tmp_path / "data/caddy/data"),
        "XDG_CONFIG_HOME": str(tmp_path / "data/caddy/config"),
        "HOME": str(tmp_path / "data/caddy"),
    }


def test_write_config_is_private(tmp_path: Path) -> None:
    s = settings(tmp_path)
    path = write_config(s, {"admin": {"listen": "unix//x"}})
    assert json.loads(path.read_text()) == {"admin": {"listen": "unix//x"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.admin_socket.parent.stat().st_mode) == 0o700


def test_systemd_unit(tmp_path: Path) -> None:
    s = settings(tmp_path)
    unit = systemd_unit(s)
    assert f"ExecStart=/usr/bin/caddy run --config {s.config_file}\n" in unit
    assert f"Environment=XDG_DATA_HOME={s.state_dir}/data\n" in unit
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in unit
    assert f"ReadWritePaths={s.state_dir} {s.admin_socket.parent}\n" in unit
    assert "WantedBy=multi-user.target" in unit


async def test_a_caddy_that_cannot_start_is_reported(tmp_path: Path) -> None:
    s = settings(tmp_path, caddy_binary="/bin/false")
    process = CaddyProcess(s)
    with pytest.raises(ProxyError, match="Caddy did not start"):
        await process.start({"admin": {"listen": f"unix/{s.admin_socket}"}})
    assert process.pid is None
