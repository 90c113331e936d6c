"""Dev-URL visibility on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from atelier.core.proxy import DevPortRef


class VisibilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visibility: Literal["private", "members", "public"]


class DevPortOut(BaseModel):
    sandbox_id: str
    name: str
    port: int
    visibility: str
    url: str | None

    @classmethod
    def of(cls, port: DevPortRef, url: str | None) -> DevPortOut:
        return cls(
            sandbox_id=port.sandbox_id,
            name=port.name,
            port=port.port,
            visibility=port.visibility,
            url=url,
        )
