"""Health endpoints: liveness, readiness, and per-subsystem checks."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from atelier.api.deps import ManagerDep

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(manager: ManagerDep) -> JSONResponse:
    """Migrations ran and drivers are set up (503 until then)."""
    if manager.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"error": "unavailable", "message": "starting"}, status_code=503)


@router.get("/health")
async def health(manager: ManagerDep) -> JSONResponse:
    """Every subsystem's check; 503 when one fails. Mock mode is announced here."""
    checks = await manager.health()
    ok = all(c.ok for c in checks)
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "version": manager.version,
        "mode": manager.mode,
        "uptime_s": round(time.time() - manager.started_at, 1),
        "checks": {c.name: c.to_dict() for c in checks},
    }
    if manager.mode == "mock":
        body["warning"] = "mock mode: in-memory fake drivers, no real VMs"
    return JSONResponse(body, status_code=200 if ok else 503)
