"""Users' SSH public keys for the gateway: add, list, remove, and resolve a key to its user.

A key belongs to exactly one user (its fingerprint is unique), may carry an expiry, and is
checked against the clock at every login and every new channel, so an expired or removed key
stops working at once, not at the next restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from atelier.db import Database
from atelier.db.models import SshKey
from atelier.db.repos import ssh as repo
from atelier.db.types import utcnow
from atelier.errors import Conflict, NotFound, ValidationError
from atelier.runtime.host.names import new_id
from atelier.runtime.ssh.base import Identity
from atelier.runtime.ssh.keys import parse_public_key

Clock = Callable[[], datetime]
_NAME = re.compile(r"^[\w@.+:=-][\w@.+:= -]{0,63}$")
_UNSAFE = re.compile(r"[^\w@.+:= -]")


@dataclass(frozen=True)
class SshKeyView:
    """A registered key as the API and CLI show it."""

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
    def of(cls, key: SshKey, now: datetime) -> SshKeyView:
        return cls(
            key.id,
            key.name,
            key.algorithm,
            key.fingerprint,
            key.public_key,
            key.comment,
            key.created_at,
            key.expires_at,
            key.last_used_at,
            key.expires_at is not None and key.expires_at <= now,
        )


def _default_name(comment: str | None, fingerprint: str) -> str:
    """A name from the key's comment (made safe), else from its fingerprint."""
    cleaned = _UNSAFE.sub("-", comment or "").strip(" -")[:64]
    if cleaned:
        return cleaned
    return "key-" + re.sub(r"[^A-Za-z0-9]", "", fingerprint.removeprefix("SHA256:"))[:8]


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            f"key name {name!r} is not allowed: use 1-64 letters, digits, spaces or"
            " '_', '-', '.', '@', '+', ':', '=' (not starting with a space)",
            field="name",
        )
    return name


class SshKeys:
    """The registry of users' gateway keys."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self,
        user_id: str,
        public_key: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
    ) -> SshKeyView:
        """Register a key for a user.

        Raises SshKeyInvalid (bad key), ValidationError (name, past expiry) and Conflict
        (the key is already registered, or the name is taken).
        """
        parsed = parse_public_key(public_key)
        now = self._clock()
        if expires_at is not None:
            expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
            if expires_at <= now:
                raise ValidationError(
                    f"expires_at {expires_at.isoformat()} is in the past; give a future time",
                    field="expires_at",
                )
        label = _check_name(name) if name else _default_name(parsed.comment, parsed.fingerprint)
        async with self._db.session() as session:
            if await repo.key_by_fingerprint(session, parsed.fingerprint) is not None:
                raise Conflict(
                    f"the key {parsed.fingerprint} is already registered",
                    hint="list yours with `atelier ssh-key list`; a key can belong to one user",
                    field="public_key",
                )
            if await repo.name_taken(session, user_id, label):
                raise Conflict(
                    f"you already have a key named {label!r}",
                    hint="pick another name with --name",
                    field="name",
                )
            key = SshKey(
                id=new_id(),
                user_id=user_id,
                name=label,
                algorithm=parsed.algorithm,
                public_key=parsed.openssh,
                fingerprint=parsed.fingerprint,
                comment=parsed.comment[:255] if parsed.comment else None,
                created_at=now,
                expires_at=expires_at,
            )
            session.add(key)
        return SshKeyView.of(key, now)

    async def list(self, user_id: str) -> list[SshKeyView]:
        """A user's keys, oldest first, with their expiry state."""
        now = self._clock()
        async with self._db.session() as session:
            return [SshKeyView.of(k, now) for k in await repo.keys_of(session, user_id)]

    async def remove(self, user_id: str, ref: str) -> SshKeyView:
        """Remove one of a user's keys by id, name or fingerprint; NotFound otherwise."""
        async with self._db.session() as session:
            key = await repo.user_key(session, user_id, ref)
            if key is None:
                raise NotFound(
                    f"you have no SSH key {ref!r}",
                    hint="see `atelier ssh-key list` for ids, names and fingerprints",
                    field="key",
                )
            view = SshKeyView.of(key, self._clock())
            await session.delete(key)
        return view

    async def identify(self, fingerprint: str) -> Identity | None:
        """The user a key logs in as, or None (unknown, expired, or user disabled)."""
        async with self._db.session() as session:
            found = await repo.key_with_owner(session, fingerprint)
            if found is None:
                return None
            key, user = found
            if user.disabled or (key.expires_at is not None and key.expires_at <= self._clock()):
                return None
            return Identity(user.id, user.username, key.id, key.fingerprint)

    async def touch(self, key_id: str) -> None:
        """Record that a key was just used to log in."""
        async with self._db.session() as session:
            await repo.touch_key(session, key_id, self._clock())
