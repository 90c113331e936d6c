"""SSH keys and the gateway's address on the wire."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from atelier.api.schemas.base import Camel
from atelier.core.ssh import GatewayInfo
from atelier.core.ssh_keys import SshKeyView


class SshKeyOut(BaseModel):
    id: str
    name: str
    algorithm: str
    fingerprint: str
    public_key: str
    comment: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    expired: bool

    @classmethod
    def of(cls, view: SshKeyView) -> SshKeyOut:
        return cls(**view.__dict__)


class SshKeyCreate(Camel):
    public_key: str = Field(
        min_length=1, max_length=16384, description="one OpenSSH public key line (the .pub file)"
    )
    name: str | None = Field(
        None, min_length=1, max_length=64, description="default: the key's comment"
    )
    expires_at: datetime | None = Field(
        None, description="after this time the key no longer logs in (UTC if no offset)"
    )


class SshGatewayOut(BaseModel):
    host: str | None = Field(description="configured public host; null: the manager URL's host")
    port: int
    host_key: str = Field(description="the gateway's public host key, for known_hosts")
    fingerprint: str

    @classmethod
    def of(cls, info: GatewayInfo) -> SshGatewayOut:
        return cls(**info.__dict__)
