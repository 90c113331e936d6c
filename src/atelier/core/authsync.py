"""Auth sync: one user's provider credentials follow them into all their sandboxes (opt-in).

When a user opted in, OpenCode's credentials file in each of their running sandboxes that
has no other members is watched by the guest agent (`file.watch`: the agent notices the
change, the manager does not poll VMs). A change is read, merged into the user's stored
set (`authmerge`: newest OAuth expiry wins, removals propagate), stored encrypted, and the
result is written into the user's other such sandboxes. A sandbox with members never gets
or gives credentials, so no member can read another's. Sharing OAuth credentials may
violate some providers' terms, hence off by default (`opencode.auth_sync_default`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime

from atelier.core import authmerge as m
from atelier.core.auth import Principal
from atelier.core.lifecycle import Status
from atelier.core.tasks.guest import OpencodeAccess
from atelier.db.models import AiSettings, SharedCredential
from atelier.db.repos import opencode as repo
from atelier.errors import AtelierError, NotFound
from atelier.runtime.agent.client import AgentClient
from atelier.runtime.agent.errors import AgentNotFound, AgentUnsupported

log = logging.getLogger(__name__)
WARNING = (
    "Sharing credentials copies OAuth tokens and API keys between your sandboxes. Some"
    " providers' terms forbid using one login from several machines; check yours first."
)
FALLBACK_POLL_S = 30.0  # agents of protocol 1 cannot watch files


@dataclass(frozen=True)
class CredentialView:
    """A stored credential without its secret."""

    provider: str
    kind: str | None
    expires: int | None
    removed: bool
    source: str | None
    updated_at: datetime


@dataclass(frozen=True)
class AuthSettingsView:
    """A user's auth sync choice and what is stored for them."""

    enabled: bool
    default: bool
    warning: str
    credentials: list[CredentialView]


class AuthSync:
    """Watches, merges, stores and pushes credentials files."""

    def __init__(self, access: OpencodeAccess) -> None:
        self._access = access
        self._manager = access.manager
        self._config = access.config
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # settings -----------------------------------------------------------------------

    async def enabled_for(self, user_id: str) -> bool:
        async with self._manager.db.session() as session:
            row = await repo.settings(session, user_id)
        if row is None or row.auth_sync is None:
            return self._config.auth_sync_default
        return row.auth_sync

    async def view(self, principal: Principal) -> AuthSettingsView:
        """The caller's choice and stored credentials (never their secrets)."""
        async with self._manager.db.session() as session:
            rows = await repo.credentials(session, principal.user_id)
        return AuthSettingsView(
            enabled=await self.enabled_for(principal.user_id),
            default=self._config.auth_sync_default,
            warning=WARNING,
            credentials=[
                CredentialView(
                    r.provider, r.kind, r.expires, r.entry is None, r.source, r.updated_at
                )
                for r in rows
            ],
        )

    async def set_enabled(self, principal: Principal, enabled: bool) -> AuthSettingsView:
        """Opt in (watching starts in the caller's eligible sandboxes) or out."""
        async with self._manager.db.session() as session:
            row = await repo.settings(session, principal.user_id)
            if row is None:
                session.add(AiSettings(user_id=principal.user_id, auth_sync=enabled))
            else:
                row.auth_sync = enabled
        for sandbox_id in await self._sandboxes_of(principal.user_id, require_enabled=False):
            if enabled:
                await self.attach(sandbox_id)
            else:
                await self.detach(sandbox_id)
        return await self.view(principal)

    async def remove(self, principal: Principal, provider: str) -> AuthSettingsView:
        """Forget a credential and take it out of the caller's sandboxes."""
        async with self._lock(principal.user_id):
            stored = await self._stored(principal.user_id)
            if provider not in stored or stored[provider].entry is None:
                raise NotFound(f"no stored credential for {provider!r}", field="provider")
            await self._save(principal.user_id, [m.Change(provider, None)], "api")
            await self._push(principal.user_id)
        return await self.view(principal)

    # sandboxes ----------------------------------------------------------------------

    async def _eligible(self, sandbox_id: str, *, spawning: bool = False) -> str | None:
        """The owner id when the sandbox takes part: running (or being spawned), no
        members, and its owner opted in."""
        row = await self._manager.sandboxes.lookup(sandbox_id)
        if row is None or row.members:
            return None
        if row.status != Status.RUNNING and not spawning:
            return None
        return row.owner_id if await self.enabled_for(row.owner_id) else None

    async def _sandboxes_of(self, user_id: str, *, require_enabled: bool = True) -> list[str]:
        if require_enabled and not await self.enabled_for(user_id):
            return []
        async with self._manager.db.session() as session:
            with_opencode = {r.sandbox_id for r in await repo.servers(session)}
        return [
            r.id
            for r in await self._manager.sandboxes.running_rows()
            if r.owner_id == user_id and not r.members and r.id in with_opencode
        ]

    def _path(self, sandbox_id: str) -> str:
        home = self._access.launcher.home(sandbox_id)
        return posixpath.join(home, self._config.auth_file.removeprefix("~/"))

    async def seed(self, sandbox_id: str, agent: AgentClient) -> bool:
        """At spawn: give a sandbox that takes part the stored credentials."""
        owner = await self._eligible(sandbox_id, spawning=True)
        if owner is None:
            return False
        async with self._lock(owner):
            await self._write(sandbox_id, agent, m.desired(await self._stored(owner)))
        return True

    async def attach(self, sandbox_id: str, *, fresh: bool = False) -> bool:
        """Watch a running sandbox's file (`fresh`: write the stored set first)."""
        owner = await self._eligible(sandbox_id)
        if owner is None:
            return False
        if fresh:
            await self.seed(sandbox_id, await self._access.agent(sandbox_id))
        if sandbox_id not in self._watchers:
            self._watchers[sandbox_id] = asyncio.create_task(
                self._watch(sandbox_id, owner), name=f"authsync-{sandbox_id}"
            )
        return True

    async def detach(self, sandbox_id: str, *, strip: bool = False) -> None:
        """Stop watching; with `strip`, take the shared credentials out of its file."""
        task = self._watchers.pop(sandbox_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if strip:
            row = await self._manager.sandboxes.lookup(sandbox_id)
            if row is not None and row.status == Status.RUNNING:
                with contextlib.suppress(AtelierError):
                    await self._strip(sandbox_id, row.owner_id)

    async def recheck(self, sandbox_id: str) -> None:
        """Members or status changed: leave when no longer eligible, else make sure to watch."""
        if await self._eligible(sandbox_id) is None:
            await self.detach(sandbox_id, strip=sandbox_id in self._watchers)

    async def close(self) -> None:
        for sandbox_id in list(self._watchers):
            await self.detach(sandbox_id)

    # watching -----------------------------------------------------------------------

    async def _watch(self, sandbox_id: str, owner: str) -> None:
        delay = 1.0
        while True:
            try:
                agent = await self._access.agent(sandbox_id)
                interval = self._config.auth_watch_interval_s
                async for _changes in agent.watch_files(
                    [self._path(sandbox_id)], interval=interval
                ):
                    await self._observe(sandbox_id, owner, agent)
                    delay = 1.0
            except asyncio.CancelledError:
                raise
            except AgentUnsupported:
                await self._poll(sandbox_id, owner)
            except AtelierError as exc:
                log.debug("auth sync of %s: %s; retrying", sandbox_id, exc.message)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _poll(self, sandbox_id: str, owner: str) -> None:
        while True:
            await self._observe(sandbox_id, owner, await self._access.agent(sandbox_id))
            await asyncio.sleep(FALLBACK_POLL_S)

    async def _observe(self, sandbox_id: str, owner: str, agent: AgentClient) -> None:
        async with self._lock(owner):
            if await self._take(sandbox_id, owner, agent):
                await self._push(owner)

    async def _take(self, sandbox_id: str, owner: str, agent: AgentClient) -> bool:
        """Merge what changed in one sandbox's file; True when the stored set changed."""
        try:
            data = await agent.read_file(self._path(sandbox_id), max_size=1 << 20)
        except AgentNotFound:
            data = b""
        observed = m.parse_file(data)
        if observed is None:
            return False  # a partial write or garbage: the next change will tell
        async with self._manager.db.session() as session:
            state = await repo.auth_state(session, sandbox_id)
        baseline = dict(state.fingerprints) if state is not None else None
        changes = m.merge(await self._stored(owner), baseline, observed)
        if changes:
            await self._save(owner, changes, sandbox_id)
        async with self._manager.db.session() as session:
            await repo.set_auth_state(session, sandbox_id, m.fingerprints(observed))
        return bool(changes)

    async def _push(self, owner: str) -> None:
        """Write the stored set into every participating sandbox whose file differs."""
        entries = m.desired(await self._stored(owner))
        prints = m.fingerprints(entries)
        for sandbox_id in await self._sandboxes_of(owner):
            async with self._manager.db.session() as session:
                state = await repo.auth_state(session, sandbox_id)
            if state is not None and dict(state.fingerprints) == prints:
                continue
            try:
                agent = await self._access.agent(sandbox_id)
                if state is not None and await self._take(sandbox_id, owner, agent):
                    entries = m.desired(await self._stored(owner))  # it changed under us
                await self._write(sandbox_id, agent, entries)
            except AtelierError as exc:
                log.warning("auth sync: could not update %s: %s", sandbox_id, exc.message)

    async def _write(self, sandbox_id: str, agent: AgentClient, entries: m.Entry) -> None:
        await agent.write_file(
            self._path(sandbox_id), m.render(entries), mode=0o600, owner=self._config.guest_user
        )
        async with self._manager.db.session() as session:
            await repo.set_auth_state(session, sandbox_id, m.fingerprints(entries))

    async def _strip(self, sandbox_id: str, owner: str) -> None:
        agent = await self._access.agent(sandbox_id)
        async with self._lock(owner):
            shared = set(m.desired(await self._stored(owner)))
            try:
                current = m.parse_file(await agent.read_file(self._path(sandbox_id))) or {}
            except AgentNotFound:
                return
            await self._write(sandbox_id, agent, m.without(current, shared))

    # storage ------------------------------------------------------------------------

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    async def _stored(self, user_id: str) -> dict[str, m.Stored]:
        async with self._manager.db.session() as session:
            rows = await repo.credentials(session, user_id)
        secrets = self._manager.secrets
        return {
            r.provider: m.Stored.of(
                r.provider, json.loads(secrets.decrypt(r.entry)) if r.entry else None
            )
            for r in rows
        }

    async def _save(self, user_id: str, changes: list[m.Change], source: str) -> None:
        secrets = self._manager.secrets
        async with self._manager.db.session() as session:
            rows = {r.provider: r for r in await repo.credentials(session, user_id)}
            for change in changes:
                row = rows.get(change.provider)
                if row is None:
                    row = SharedCredential(user_id=user_id, provider=change.provider)
                    session.add(row)
                stored = m.Stored.of(change.provider, change.entry)
                row.entry = secrets.encrypt(json.dumps(change.entry)) if change.entry else None
                row.kind = m.kind_of(change.entry) if change.entry else row.kind
                row.expires = stored.expires
                row.fingerprint = stored.fingerprint
                row.source = source
        log.info(
            "auth sync: %d credential change(s) for user %s from %s", len(changes), user_id, source
        )
