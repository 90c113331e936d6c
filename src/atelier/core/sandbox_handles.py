"""A VM handle as the sandbox row stores it: `VmHandle` to JSON and back.

The row's `vm` column is the only place a running sandbox's VMM handle survives a
manager restart; these two functions are its format and must stay inverse to each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atelier.runtime.agent.endpoint import AgentEndpoint
from atelier.runtime.vmm.base import VmHandle


def handle_to_json(handle: VmHandle) -> dict[str, Any]:
    return {
        "name": handle.name,
        "driver": handle.driver,
        "pid": handle.pid,
        "run_dir": str(handle.run_dir),
        "agent": handle.agent.to_dict(),
        "console_log": str(handle.console_log),
        "started_at": handle.started_at,
        "extra": dict(handle.extra),
    }


def handle_from_json(data: dict[str, Any]) -> VmHandle:
    return VmHandle(
        name=data["name"],
        driver=data["driver"],
        pid=int(data["pid"]),
        run_dir=Path(data["run_dir"]),
        agent=AgentEndpoint.from_dict(data["agent"]),
        console_log=Path(data["console_log"]),
        started_at=float(data.get("started_at", 0.0)),
        extra=dict(data.get("extra", {})),
    )
