"""Base models for the wire: camelCase JSON out, camelCase or snake_case accepted in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Camel(BaseModel):
    """Request bodies: unknown fields refused; `memoryMb` and `memory_mb` both accepted."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CamelOut(BaseModel):
    """Responses: serialised with camelCase names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
