"""Who may SSH into which sandbox: a pure decision, and the words the user sees.

Only the owner and the members of a sandbox get in; admins are not special here (they add
themselves as members like anyone else). A sandbox the caller may not use gets the same
message as one that does not exist, so probing ids reveals nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The status the lifecycle gives a sandbox whose VM is up; only then does SSH go through.
RUNNING = "running"
STOPPED = "stopped"
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")
_PLAUSIBLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_REF_SHOWN = 64


@dataclass(frozen=True)
class SandboxRef:
    """What the gateway needs to know about a sandbox to decide access."""

    id: str
    owner_id: str
    member_ids: frozenset[str] = frozenset()
    status: str = RUNNING
    name: str | None = None

    def admits(self, user_id: str) -> bool:
        """True for the owner and the members."""
        return user_id == self.owner_id or user_id in self.member_ids


@dataclass(frozen=True)
class Allowed:
    """The caller may connect to this sandbox now."""

    sandbox_id: str


@dataclass(frozen=True)
class Refused:
    """The caller may not connect; `message` is shown on the client's stderr.

    `reason` is one of `unknown` (no such sandbox, or no access), `stopped` and
    `not_running` (any other state), for the audit log.
    """

    reason: str
    message: str
    sandbox_id: str | None = None


Decision = Allowed | Refused


def shown(ref: str) -> str:
    """A client-supplied sandbox reference made safe to print back to a terminal."""
    return _UNPRINTABLE.sub("?", ref[:MAX_REF_SHOWN]) or "''"


def plausible_ref(ref: str) -> bool:
    """True when `ref` could be a sandbox id or name (worth looking up at all)."""
    return bool(_PLAUSIBLE.match(ref))


def unknown_message(ref: str) -> str:
    """The refusal for a sandbox that does not exist or that the caller may not use."""
    return f"no sandbox {shown(ref)} (list yours with `atelier sandbox list`)"


def stopped_message(sandbox_id: str) -> str:
    """The refusal for a stopped sandbox the caller may use."""
    return f"sandbox {sandbox_id} is stopped; start it with `atelier sandbox start {sandbox_id}`"


def not_running_message(sandbox_id: str, status: str) -> str:
    """The refusal for a sandbox that is neither running nor stopped (starting, failed...)."""
    return (
        f"sandbox {sandbox_id} is {shown(status)}; SSH works once it is running"
        f" (see `atelier sandbox show {sandbox_id}`)"
    )


def decide(user_id: str, ref: str, sandbox: SandboxRef | None) -> Decision:
    """Whether `user_id` may SSH into the sandbox the client named `ref` (found: `sandbox`)."""
    if sandbox is None or not sandbox.admits(user_id):
        return Refused("unknown", unknown_message(ref))
    if sandbox.status == RUNNING:
        return Allowed(sandbox.id)
    if sandbox.status == STOPPED:
        return Refused("stopped", stopped_message(sandbox.id), sandbox.id)
    return Refused("not_running", not_running_message(sandbox.id, sandbox.status), sandbox.id)
