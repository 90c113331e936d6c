"""The init's boot pass over the service registry, against requests that came first."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.guest.agent import Agent, AgentConfig
from atelier.guest.loop import Loop
from atelier.guest.ops_services import supervisor


def _agent(tmp_path: Path) -> Agent:
    registry = tmp_path / "services.d"
    registry.mkdir()
    for name in ("editor", "browser"):
        spec = {"argv": ["sleep", "300"], "autostart": True, "restart": "always"}
        (registry / f"{name}.json").write_text(json.dumps(spec))
    config = AgentConfig(
        token="t" * 24,
        services_dirs=(str(registry),),
        runtime_services_dir=str(registry),
        log_dir=str(tmp_path / "log"),
    )
    return Agent(Loop(signals=False), config)


def test_a_service_stopped_before_the_boot_pass_is_not_autostarted(tmp_path: Path) -> None:
    services = supervisor(_agent(tmp_path))
    stopped: list[bool] = []
    services.stop("browser", lambda: stopped.append(True))
    services.boot(None)
    try:
        assert stopped == [True]
        assert services.services["browser"].state == "stopped"
        assert services.services["editor"].state == "running"
        # A later start request still starts it.
        assert services.start("browser")["state"] == "running"
    finally:
        services.shutdown()
