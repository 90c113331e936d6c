"""In-memory fakes for the SSH gateway: a SandboxDirectory and a settable clock.

`FakeSandboxDirectory` implements `atelier.core.ssh.SandboxDirectory` over a dict, with
helpers to add members and change a sandbox's status the way the lifecycle would.
`FakeClock` lets expiry tests move time forward without waiting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from atelier.db.types import utcnow
from atelier.runtime.network.base import Endpoint
from atelier.runtime.network.errors import GuestUnreachable
from atelier.runtime.ssh.acl import SandboxRef


class FakeSandboxDirectory:
    """Sandboxes by id (and name), each with the endpoint of its sshd."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, SandboxRef] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.lookups: list[str] = []

    def add(self, sandbox: SandboxRef, endpoint: Endpoint | None = None) -> None:
        self.sandboxes[sandbox.id] = sandbox
        if endpoint is not None:
            self.endpoints[sandbox.id] = endpoint

    def set_status(self, sandbox_id: str, status: str) -> None:
        self.sandboxes[sandbox_id] = replace(self.sandboxes[sandbox_id], status=status)

    def add_member(self, sandbox_id: str, user_id: str) -> None:
        ref = self.sandboxes[sandbox_id]
        self.sandboxes[sandbox_id] = replace(ref, member_ids=ref.member_ids | {user_id})

    def remove_member(self, sandbox_id: str, user_id: str) -> None:
        ref = self.sandboxes[sandbox_id]
        self.sandboxes[sandbox_id] = replace(ref, member_ids=ref.member_ids - {user_id})

    async def ssh_sandbox(self, ref: str) -> SandboxRef | None:
        self.lookups.append(ref)
        if ref in self.sandboxes:
            return self.sandboxes[ref]
        return next((s for s in self.sandboxes.values() if s.name == ref), None)

    async def ssh_endpoint(self, sandbox_id: str) -> Endpoint:
        endpoint = self.endpoints.get(sandbox_id)
        if endpoint is None:
            raise GuestUnreachable(f"sandbox {sandbox_id} has no sshd endpoint")
        return endpoint


class FakeClock:
    """A clock that starts now and moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
