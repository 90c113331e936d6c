"""Unit file builders: absolute programs, quoting, and the manager's KillMode."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.runtime.host import systemd


def test_manager_unit_keeps_vms_alive_across_restarts() -> None:
    text = systemd.manager_unit(
        systemd.ManagerUnit(
            Path("/opt/atelier/venv/bin/atelier"),
            Path("/etc/atelier/sandbox.config.json"),
            Path("/var/lib/atelier"),
            (Path("/var/lib/atelier/pool"),),
            (systemd.VERDACCIO,),
        )
    )
    assert "KillMode=process" in text
    assert "ExecStart=/opt/atelier/venv/bin/atelier serve" in text
    assert "Environment=ATELIER_CONFIG=/etc/atelier/sandbox.config.json" in text
    assert "RequiresMountsFor=/var/lib/atelier /var/lib/atelier/pool" in text
    assert f"After=network-online.target {systemd.NETWORK} {systemd.VERDACCIO}" in text
    assert text.rstrip().endswith("WantedBy=multi-user.target")


def test_network_unit_is_a_non_interactive_oneshot_with_an_absolute_path() -> None:
    text = systemd.network_unit(Path("/usr/local/bin/atelier"), Path("/etc/a.json"))
    assert "Type=oneshot" in text and "RemainAfterExit=yes" in text
    assert "ExecStart=/usr/local/bin/atelier network setup" in text
    assert f"Before={systemd.MANAGER}" in text


def test_exec_line_quotes_and_refuses_relative_programs() -> None:
    assert systemd.exec_line(["/bin/x", "a b", "50%", 'q"']) == '/bin/x "a b" 50%% "q\\""'
    with pytest.raises(ValueError, match="absolute"):
        systemd.exec_line(["atelier", "serve"])


def test_cache_unit_is_confined_and_logs_to_its_file() -> None:
    unit = systemd.CacheUnit(
        "Atelier cache", ("/srv/bin/gunicorn", "app"), (("A", "1"),), Path("/srv"),
        Path("/srv/state"), Path("/srv/state/logs/c.log"),
        systemd.evict_argv(Path("/srv/state/files"), 30),
    )  # fmt: skip
    text = systemd.cache_unit(unit)
    assert "ExecStartPre=-/usr/bin/find /srv/state/files -type f" in text
    assert "-atime +29 -mtime +29 -delete" in text
    assert "StandardOutput=append:/srv/state/logs/c.log" in text
    assert "ProtectSystem=strict" in text and "ReadWritePaths=/srv/state" in text
    assert "Environment=A=1" in text
