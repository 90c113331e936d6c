"""The Settings page's data: API tokens, SSH keys, notifications, OpenCode config, git sources."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from atelier.core.auth import AuthService, Principal, TokenView
from atelier.core.manager import Manager
from atelier.core.ssh import gateway_info
from atelier.core.ssh_keys import SshKeys, SshKeyView
from atelier.errors import ValidationError
from atelier.web.push import PushService, SubscriptionView
from atelier.web.sources import Sources
from atelier.web.sources.overview import Section, section
from atelier.web.sources.protocols import OpencodeConfigSource


@dataclass(frozen=True)
class SettingsData:
    """Everything Settings shows for one user."""

    tokens: list[TokenView]
    keys: list[SshKeyView]
    subscriptions: list[SubscriptionView]
    vapid_key: str
    ssh_host: str | None
    ssh_port: int
    opencode: Section[str]
    git_sources: Section[tuple[str, str]]


class Account:
    """The caller's own credentials and preferences."""

    def __init__(self, manager: Manager, push: PushService, sources: Sources) -> None:
        self._manager = manager
        self._auth: AuthService = manager.auth
        self._keys = SshKeys(manager.db)
        self._push = push
        self._sources = sources

    async def settings(self, viewer: Principal) -> SettingsData:
        """The Settings page for `viewer`."""

        async def opencode_text(source: OpencodeConfigSource) -> list[str]:
            return [await source.get(viewer)]

        tokens, keys, subs, opencode, git = await asyncio.gather(
            self._auth.list_tokens(viewer.user_id),
            self._keys.list(viewer.user_id),
            self._push.subscriptions(viewer),
            section(self._sources.opencode_config, opencode_text),
            section(self._sources.git_sources, lambda s: s.sources(viewer)),
        )
        info = gateway_info(self._manager.config)
        return SettingsData(
            tokens, keys, subs, self._push.vapid.public_key, info.host, info.port, opencode, git
        )

    async def create_token(self, viewer: Principal, name: str, days: int | None) -> str:
        """A new API token; its secret is returned only now."""
        expires = timedelta(days=days) if days else None
        _, raw = await self._auth.create_token(viewer.user_id, name, expires_in=expires)
        return raw

    async def revoke_token(self, viewer: Principal, token_id: str) -> None:
        """Revoke one of the caller's API tokens."""
        await self._auth.revoke_token(viewer, token_id)

    async def add_key(self, viewer: Principal, public_key: str, name: str | None) -> SshKeyView:
        """Register an SSH public key for the gateway."""
        return await self._keys.add(viewer.user_id, public_key.strip(), name=name or None)

    async def remove_key(self, viewer: Principal, ref: str) -> None:
        """Remove one of the caller's SSH keys."""
        await self._keys.remove(viewer.user_id, ref)

    async def save_opencode(self, viewer: Principal, text: str) -> list[str]:
        """Store the OpenCode configuration; the problems when it was refused."""
        source = self._sources.opencode_config
        if source is None:
            raise ValidationError("OpenCode configuration is not available on this manager yet")
        problems = await source.save(viewer, text)
        return [f"{p.field}: {p.message}" if p.field else p.message for p in problems]

    async def remove_git_source(self, viewer: Principal, source_id: str) -> None:
        """Disconnect a git source."""
        source = self._sources.git_sources
        if source is None:
            raise ValidationError("git sources are not available on this manager yet")
        await source.remove(viewer, source_id)
