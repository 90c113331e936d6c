"""The package caches: `GET /api/registry` (status, size, hit counts) and eviction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import HTTPConnection

from atelier.api.deps import AdminUser, CurrentUser
from atelier.core.registry import RegistryService

router = APIRouter(tags=["registry"])


def get_registry(connection: HTTPConnection) -> RegistryService | None:
    """The registry service attached by `install_registry` (None when the caches are off)."""
    service = getattr(connection.app.state, "registry", None)
    return service if isinstance(service, RegistryService) else None


RegistryDep = Annotated[RegistryService | None, Depends(get_registry)]


@router.get("/api/registry")
async def registry_status(_user: CurrentUser, registry: RegistryDep) -> dict[str, Any]:
    """Mode, and per cache: URL, running, pinned and installed versions, storage size,
    file count, requests, upstream fetches and hits (served from the cache)."""
    if registry is None:
        return {"mode": "off", "ok": True, "caches": []}
    return (await registry.status()).to_dict()


@router.post("/api/registry/evict")
async def registry_evict(_admin: AdminUser, registry: RegistryDep) -> dict[str, Any]:
    """Evict npm cache files unused for `registry.max_age_days` now."""
    if registry is None:
        return {"evicted": []}
    return {"evicted": [e.to_dict() for e in await registry.evict()]}
