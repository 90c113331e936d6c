"""Users and tokens on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from atelier.core.auth import TokenView, UserView


class UserOut(BaseModel):
    id: str
    username: str
    role: str
    display_name: str | None
    created_at: datetime
    has_password: bool
    github_login: str | None

    @classmethod
    def of(cls, view: UserView) -> UserOut:
        return cls(**view.__dict__)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=32)
    role: Literal["admin", "member"] = "member"
    password: str | None = Field(None, min_length=8, max_length=256)
    display_name: str | None = Field(None, max_length=128)


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, view: TokenView) -> TokenOut:
        return cls(**view.__dict__)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenCreated(TokenOut):
    token: str = Field(description="the secret, shown only in this response")
